"""Renaming a watchlist and moving a feed without losing their history.

Both change a file the user owns (watchlists.toml, feeds.opml) and re-key rows of the store
(matches, digest slots; entries and fetch state). The two must land together:

    with store.transaction():       # BEGIN IMMEDIATE: the daemon waits for us
        re-key the rows             # fails -> rollback, the file was never touched
        write the file atomically   # fails -> rollback, the old file is still there
    # COMMIT fails -> the old file is written back

Every check happens before anything is written, so a refused command changes nothing.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .cron import parse_schedule
from .errors import OpmlError, WatchlistError
from .files import atomic_write
from .opml import OpmlDocument
from .store import Store
from .watchlists import Watchlist, parse_watchlists

T = TypeVar("T")


@dataclass(frozen=True)
class RenameReport:
    matches: int  # matches now under the new name
    pending: int  # their deliveries (one per match and channel) not accepted yet
    slots: int  # digest meta keys carried over


@dataclass(frozen=True)
class MoveReport:
    entries: int  # entries now under the new URL
    known: bool  # the store knew the old feed (False: never synced, only the file changed)


# --- watchlists -------------------------------------------------------------------------------

def rename_watchlist(store: Store, path: Path, old: str, new: str) -> RenameReport:
    """Rename `old` to `new` in watchlists.toml and carry its rows over, or change nothing."""
    path = Path(path)
    text = _read(path)
    lists = _parse(path, text)
    _check_rename(path, lists, old, new)
    edited = _renamed_text(path, text, old, new)

    def update() -> RenameReport:
        if rows := store.watchlist_rows(new):
            raise WatchlistError(path, new, f"the database still holds {rows} matches of an "
                                 f"earlier watchlist of that name; choose another name")
        counts = store.rename_watchlist_rows(old, new)
        return RenameReport(counts.get("matches", 0), store.undelivered_deliveries(new),
                            counts["meta"])

    def error(message: str) -> Exception:
        return WatchlistError(path, None, message)

    return _commit_with_file(store, update, lambda: _write(path, edited, error),
                             lambda: _write(path, text, error))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""  # no file, no watchlists: the rename finds no OLD
    except (OSError, UnicodeDecodeError) as e:
        raise WatchlistError(path, None, f"cannot read: {e}") from None


def _toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise WatchlistError(path, None, f"not valid TOML: {e}") from None


def _parse(path: Path, text: str) -> list[Watchlist]:
    """The project's loader, on text already read (the text we edit is the text we checked)."""
    return parse_watchlists(path, _toml(path, text), parse_schedule)


def _check_rename(path: Path, lists: list[Watchlist], old: str, new: str) -> None:
    names = {w.name for w in lists}
    if old not in names:
        raise WatchlistError(path, old, "no such watchlist")
    if not new.strip():
        raise WatchlistError(path, old, "the new name is empty")
    if new == old:
        raise WatchlistError(path, old, "the new name is the same as the old one")
    if new in names:
        raise WatchlistError(path, new, "a watchlist of that name already exists")


#: `name = "…"` or `name = '…'` alone on its line, with an optional comment after it.
_NAME_LINE = re.compile(r"""^(?P<lead>[ \t]*(?:name|"name"|'name')[ \t]*=[ \t]*)"""
                        r"""(?P<value>"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
                        r"""(?P<tail>[ \t]*(?:#.*)?)$""")


def _renamed_text(path: Path, text: str, old: str, new: str) -> str:
    """`text` with only OLD's `name = …` line changed, so comments and layout stay.

    Each line that reads `name = "OLD"` is a candidate (one may sit inside a multi-line
    query string); the edit is kept only if the whole file then parses to exactly what it
    was, with that one name changed, and the loader accepts it.
    """
    expected = _toml(path, text)
    tables = expected.get("watchlist", [])
    index = next(i for i, t in enumerate(tables) if t.get("name") == old)
    expected = copy.deepcopy(expected)
    expected["watchlist"][index]["name"] = new
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        body = line.rstrip("\r\n")
        found = _NAME_LINE.match(body)
        if found is None or _literal(found["value"]) != old:
            continue
        literal = _string_literal(new, found["value"][0])
        edited = "".join([*lines[:number],
                          found["lead"] + literal + found["tail"] + line[len(body):],
                          *lines[number + 1:]])
        try:
            if _toml(path, edited) != expected:
                continue
        except WatchlistError:
            continue
        names = {w.name for w in _parse(path, edited)}
        if new in names and old not in names:
            return edited
    raise WatchlistError(path, old, f'no line `name = "{old}"` to edit; rename it by hand')


def _literal(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return None


def _string_literal(value: str, quote: str) -> str:
    """A TOML string for `value`, in the quotes the user chose when that can be done."""
    if quote == "'" and "'" not in value and value.isprintable():
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


# --- feeds ------------------------------------------------------------------------------------

def move_feed(store: Store, path: Path, old_url: str, new_url: str) -> MoveReport:
    """Point OLD_URL's outline at NEW_URL and give the stored feed its new address, or change
    nothing: entries keep their ids, so their matches and deliveries follow."""
    path = Path(path)
    doc = OpmlDocument.load(path)
    original = _original_bytes(path, doc)
    urls = {s.url for s in doc.sources()}
    if old_url == new_url:
        raise OpmlError(path, f"{old_url}: the new URL is the same as the old one")
    if old_url not in urls:
        raise OpmlError(path, f"no feed {old_url}")
    if new_url in urls:
        raise OpmlError(path, f"{new_url} is already a feed; remove one of the two first")
    doc.move(old_url, new_url)

    def update() -> MoveReport:
        if rows := store.feed_rows(new_url):
            raise OpmlError(path, f"{new_url} already has {rows} entries in the database (an "
                            f"earlier feed at that address); veille will not merge two feeds")
        known = store.feed(old_url) is not None
        return MoveReport(store.move_feed_rows(old_url, new_url), known)

    return _commit_with_file(store, update, doc.save,
                             lambda: _write(path, original, lambda m: OpmlError(path, m)))


def _original_bytes(path: Path, doc: OpmlDocument) -> bytes:
    """What to put back if the commit fails: the file as it was, else as veille writes it."""
    try:
        return path.read_bytes()
    except OSError:
        return doc.to_bytes()


# --- both -------------------------------------------------------------------------------------

def _commit_with_file(store: Store, update: Callable[[], T], write: Callable[[], None],
                      restore: Callable[[], None]) -> T:
    """Rows and file together: see the module docstring."""
    written = False
    try:
        with store.transaction():
            result = update()
            write()
            written = True
    except BaseException:
        if written:
            restore()
        raise
    return result


def _write(path: Path, data: str | bytes, error: Callable[[str], Exception]) -> None:
    try:
        atomic_write(path, data.encode() if isinstance(data, str) else data)
    except OSError as e:
        raise error(f"cannot write: {e.strerror or e}") from None
