"""Converters for veille.toml values: each returns the value checked (or converted) and raises
ValueError with the message a user should read; config.py adds the file and the key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .cron import parse_schedule
from .units import parse_duration, parse_size
from .url_check import http_url_problem


def describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(
        value, bool) else str(value)


def path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a path, got {describe(value)}")
    return value


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {describe(value)}")
    return value


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {describe(value)}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {describe(value)}")
    return value


def fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"expected a number between 0 and 1, got {describe(value)}")
    return float(value)


def fraction_or_off(value: Any) -> float:
    """A fraction, or 1: a similarity that no two different texts reach, a rule turned off."""
    if value == 1 and not isinstance(value, bool):
        return 1.0
    return fraction(value)


def duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        raise ValueError(
            f'expected a duration like "90s", "30m" or "2h", got {describe(value)}'
        ) from None


def positive_duration(value: Any) -> float:
    seconds = duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a duration above zero, got {describe(value)}")
    return seconds


def size(value: Any) -> int:
    try:
        size = parse_size(value)
    except (ValueError, TypeError):
        raise ValueError(f'expected a size like "10MiB", got {describe(value)}') from None
    if size <= 0:
        raise ValueError(f"expected a size above zero, got {describe(value)}")
    return size


def timezone(value: Any) -> str:
    value = string(value)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone {value!r} (try "Europe/Paris" or "UTC")') from None
    return value


def string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {describe(value)}")
    return value


def report_schedule(value: Any) -> str:
    value = string(value)
    if parse_schedule(value).instant:  # raises ValueError for what is not a schedule at all
        raise ValueError('a report cannot be "instant": try "weekly mon 08:00"')
    return value


def listen(value: Any) -> tuple[str, int]:
    """ "127.0.0.1:9357", "[::1]:9357" or "localhost:9357" -> (host, port)."""
    host, sep, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f'expected an address like "127.0.0.1:9357", got {describe(value)}')
    return host, int(port)


def port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"expected a port number, got {describe(value)}")
    return value


def public_url(value: Any) -> str:
    """An http(s) URL with a host (a webhook's, WebSub's public address)."""
    problem = http_url_problem(string(value))
    if problem is not None:
        raise ValueError(f"{problem}, got {describe(value)}")
    return value


def choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {describe(value)}")
        return value
    return convert
