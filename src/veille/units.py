"""Human units in config and on the command line: durations ("90s", "2h"), sizes ("10MiB"), dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.I)
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Longer than any interval, window or period makes sense for: beyond it, datetime
#: arithmetic overflows ("99999999999d"), so such a value is refused where it is read.
MAX_DURATION = 100 * 366 * 86400.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?\s*$", re.I)
_SIZE_FACTOR = {
    None: 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2,
    "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}


def parse_duration(text: str | int | float) -> float:
    """Seconds in "90s", "30m", "2h", "1h30m", "7d", or a bare number of seconds; at most
    a hundred years."""
    seconds = _duration(text)
    if seconds > MAX_DURATION:
        raise ValueError(f"{text!r} is too long a duration (at most a hundred years)")
    return seconds


def _duration(text: str | int | float) -> float:
    if isinstance(text, bool):
        raise ValueError("expected a duration")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    s = text.strip().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_SECONDS[m.group(2).lower()]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f'expected a duration like "90s", "30m" or "2h", got {text!r}')
    return total


def parse_size(text: str | int) -> int:
    """Bytes in "10MiB", "512k", "2MB" or a bare number of bytes."""
    if isinstance(text, bool):
        raise ValueError("expected a size")
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f'expected a size like "10MiB", got {text!r}')
    unit = m.group(2).lower() if m.group(2) else None
    return int(float(m.group(1)) * _SIZE_FACTOR[unit])


def parse_since(text: str, now: datetime) -> datetime:
    """A point in time from a duration back from `now` ("30d") or a date ("2026-11-01")."""
    try:
        seconds = _duration(text)
    except ValueError:
        pass
    else:
        if seconds > MAX_DURATION:
            raise ValueError(f"{text!r} is too far back (at most a hundred years)")
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip())
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+05:00 in UTC
        raise ValueError(
            f'expected a duration like "30d" or a date like "2026-11-01", got {text!r}'
        ) from None


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 5400 -> "1h30m"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = [], int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"
