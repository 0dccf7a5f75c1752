"""The exceptions veille raises on purpose; each carries the file, key or URL concerned.

    VeilleError
    ├── ConfigError        a setting in veille.toml (file, key)
    ├── OpmlError          feeds.opml cannot be read or written (file, line, column)
    ├── WatchlistError     watchlists.toml or a query (file, watchlist, column)
    ├── FeedError          one feed (url); recorded on the feed, never fatal to a pass
    │   ├── FetchError     network, HTTP status, size or time limits (kind, status)
    │   └── ParseError     the body is not a feed
    ├── StorageError       the database is unusable (path)
    └── DeliveryError      a channel refused or could not be reached (channel)

The CLI prints `str(error)` as one line and exits non-zero; nothing else catches these broadly.
"""

from __future__ import annotations

from pathlib import Path


class VeilleError(Exception):
    """Base of every error veille means to show a user."""


class ConfigError(VeilleError):
    def __init__(self, file: Path | str | None, key: str | None, message: str) -> None:
        self.file = Path(file) if file is not None else None
        self.key = key
        self.message = message
        parts = [p for p in (self.file.name if self.file else None, key, message) if p]
        super().__init__(": ".join(parts))


class OpmlError(VeilleError):
    def __init__(
        self, file: Path | str, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.file = Path(file)
        self.line = line
        self.column = column
        where = f" line {line}, column {column}" if line is not None else ""
        super().__init__(f"{self.file.name}:{where}: {message}" if where else f"{self.file.name}: {message}")


class WatchlistError(VeilleError):
    def __init__(
        self,
        file: Path | str | None,
        watchlist: str | None,
        message: str,
        column: int | None = None,
    ) -> None:
        self.file = Path(file) if file is not None else None
        self.watchlist = watchlist
        self.column = column
        self.message = message
        where = f"query column {column}" if column is not None else None
        parts = [p for p in (self.file.name if self.file else None, watchlist, where, message) if p]
        super().__init__(": ".join(parts))


class FeedError(VeilleError):
    kind = "error"

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"{url}: {message}")


class FetchError(FeedError):
    def __init__(
        self,
        url: str,
        kind: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        super().__init__(url, message)


class ParseError(FeedError):
    kind = "parse"


class StorageError(VeilleError):
    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {message}")


class DeliveryError(VeilleError):
    def __init__(self, channel: str, message: str) -> None:
        self.channel = channel
        self.message = message
        super().__init__(f"channel {channel}: {message}")
