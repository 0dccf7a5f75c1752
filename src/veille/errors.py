"""The exceptions veille raises on purpose; each carries the file, key or URL concerned.

    VeilleError
    ├── ConfigError        a setting in veille.toml (file, key)
    ├── OpmlError          feeds.opml cannot be read or written (file, line, column)
    ├── WatchlistError     watchlists.toml or a query (file, watchlist, column)
    ├── StorageError       the database is unusable (path)
    ├── DiscoveryError     `feeds add` found no feed at an address (url)
    └── DeliveryError      a channel refused or could not be reached (channel)

The CLI prints `str(error)` as one line and exits non-zero; nothing else catches these broadly.

A feed's failure is not an exception: fetch and parse return it as a value (FetchResult,
ParseFailure, ParserTrouble) with an ErrorKind from outcomes.py, recorded on the feed and never
fatal to a pass.
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


class StorageError(VeilleError):
    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {message}")


class DeliveryError(VeilleError):
    def __init__(self, channel: str, message: str) -> None:
        self.channel = channel
        self.message = message
        super().__init__(f"channel {channel}: {message}")


class DiscoveryError(VeilleError):
    """`veille feeds add` could not find, or check, a feed at the address it was given."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"{url}: {message}")
