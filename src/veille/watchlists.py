"""watchlists.toml -> Watchlist list, validated: names unique, queries compiled, keys known."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import WatchlistError
from .match import CompiledWatchlist, Matcher, QuerySyntaxError, compile_watchlist
from .spikes import SpikeSettings, parse_spike_settings

DEFAULT_SCHEDULE = "daily 08:00"
_KEYS = ("name", "query", "schedule", "channels", "description", "enabled", "spike")


@dataclass(frozen=True)
class Watchlist:
    name: str
    query: str
    schedule: str = DEFAULT_SCHEDULE
    channels: tuple[str, ...] = ()
    description: str = ""
    enabled: bool = True
    compiled: CompiledWatchlist | None = None
    spike: SpikeSettings = field(default_factory=SpikeSettings)  # `spike = false`: off


def _field(file: Path, name: str, table: Mapping[str, Any], key: str, kind: type,
           default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind):
        raise WatchlistError(file, name, f"{key}: expected a {kind.__name__}, got {value!r}")
    return value


def parse_watchlists(file: Path, data: Mapping[str, Any],
                     schedule_check: Any = None) -> list[Watchlist]:
    """`schedule_check(text)` raises ValueError for a bad schedule (injected by the caller)."""
    unknown = [k for k in data if k != "watchlist"]
    if unknown:
        typo = difflib.get_close_matches(unknown[0], ["watchlist"], n=1)
        raise WatchlistError(file, None, f"unknown key {unknown[0]!r}"
                             + (' (did you mean "[[watchlist]]"?)' if typo else
                                " (each watchlist is a [[watchlist]] table)"))
    tables = data.get("watchlist", [])
    if not isinstance(tables, list):
        raise WatchlistError(file, None, "watchlist: expected [[watchlist]] tables")
    out: list[Watchlist] = []
    names: set[str] = set()
    for number, table in enumerate(tables, 1):
        if not isinstance(table, dict):
            raise WatchlistError(file, f"watchlist #{number}", "expected a [[watchlist]] table")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise WatchlistError(file, f"watchlist #{number}", "name: missing or not a string")
        if name in names:
            raise WatchlistError(file, name, "name: used by another watchlist")
        names.add(name)
        for key in table:
            if key not in _KEYS:
                close = difflib.get_close_matches(key, _KEYS, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                raise WatchlistError(file, name, f"unknown key {key!r}{hint}")
        query = table.get("query")
        if not isinstance(query, str):
            raise WatchlistError(file, name, "query: missing or not a string")
        schedule = _field(file, name, table, "schedule", str, DEFAULT_SCHEDULE)
        if schedule_check is not None:
            try:
                schedule_check(schedule)
            except ValueError as e:
                raise WatchlistError(file, name, f"schedule: {e}") from None
        channels: Any = table.get("channels", [])
        if isinstance(channels, str):
            channels = [channels]
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise WatchlistError(file, name, "channels: expected a list of channel names")
        try:
            spike = parse_spike_settings(table.get("spike", True))
        except ValueError as e:
            raise WatchlistError(file, name, str(e)) from None
        try:
            compiled = compile_watchlist(name, query)
        except QuerySyntaxError as e:
            raise WatchlistError(file, name, e.message, e.column) from None
        out.append(Watchlist(
            name=name, query=query, schedule=schedule, channels=tuple(channels),
            description=_field(file, name, table, "description", str, ""),
            enabled=_field(file, name, table, "enabled", bool, True), compiled=compiled,
            spike=spike,
        ))
    return out


def load_watchlists(path: Path, schedule_check: Any = None,
                    required: bool = False) -> list[Watchlist]:
    """The watchlists of `path`; a missing file means no watchlists (veille still fetches),
    unless it is `required` (veille.toml names it: a typo there would silently watch
    nothing)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise WatchlistError(path, None, "no such file (named by `watchlists` in "
                                             "veille.toml)") from None
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise WatchlistError(path, None, f"cannot read: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise WatchlistError(path, None, f"not valid TOML: {e}") from None
    return parse_watchlists(Path(path), data, schedule_check)


def check_channels(watchlists: Iterable[Watchlist], known: Iterable[str], file: Path) -> None:
    known = list(known)
    for w in watchlists:
        for c in w.channels:
            if c not in known:
                close = difflib.get_close_matches(c, known, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                raise WatchlistError(file, w.name, f"channels: no channel named {c!r} in the "
                                     f"configuration{hint}")


def build_matcher(watchlists: Sequence[Watchlist]) -> Matcher:
    return Matcher([w.compiled for w in watchlists if w.enabled and w.compiled is not None])
