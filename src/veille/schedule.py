"""When to poll a feed next: a pure function of its state, what the server said, and `now`.

Hints stretch the configured interval (never shrink it): Cache-Control max-age, RSS <ttl>,
sy:updatePeriod; Retry-After on 429/503 is honoured as a floor. Failures back off
exponentially with jitter up to `max_interval`, and a success resets the count.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from .config import FetchSettings
from .cron import Schedule
from .models import FeedState, FetchResult, ParsedFeed
from .outcomes import ErrorKind, FetchStatus
from .parse_failure import NotAFeed

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.I)


def cache_max_age(headers: Mapping[str, str]) -> float | None:
    """Seconds from Cache-Control max-age (RFC 9111 §5.2.2.1), minus Age already spent."""
    value = headers.get("cache-control", "")
    if "no-cache" in value.lower() or "no-store" in value.lower():
        return None
    m = _MAX_AGE.search(value)
    if not m:
        return None
    try:
        age = float(headers.get("age", "0") or 0)
    except ValueError:
        age = 0.0
    return max(0.0, float(m.group(1)) - age)


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def base_interval(feed: FeedState, settings: FetchSettings) -> float:
    """The configured interval, stretched (within bounds) by what the feed says of itself."""
    return _interval(feed.interval, feed.max_age, feed.ttl, settings)


def _interval(own: float | None, max_age: float | None, ttl: float | None,
              settings: FetchSettings) -> float:
    interval = own or settings.interval
    hints = [h for h in (max_age, ttl) if h]
    if hints:
        interval = max(interval, min(max(hints), settings.max_interval))
    return interval


def backoff(failures: int, interval: float, settings: FetchSettings) -> float:
    """Exponential in consecutive failures, starting at one interval, capped at max_interval."""
    if failures <= 0:
        return interval
    return min(settings.max_interval, interval * 2 ** min(failures - 1, 30))


def next_poll(feed: FeedState, settings: FetchSettings, now: datetime, rng: random.Random,
              wait: float | None = None) -> datetime | None:
    """When `feed` (already updated with its latest fetch) is due again; None if it is gone.

    `wait` is a server-imposed floor (Retry-After). Jitter of ±10 % spreads feeds that share
    an interval so that polls do not all fire in the same second.
    """
    return _due(feed.gone, feed.failures, base_interval(feed, settings), settings, now, rng,
                wait)


def _due(gone: bool, failures: int, interval: float, settings: FetchSettings, now: datetime,
         rng: random.Random, wait: float | None) -> datetime | None:
    if gone:
        return None
    delay = backoff(failures, interval, settings) * rng.uniform(0.9, 1.1)
    if wait:
        delay = max(delay, wait)
    return now + timedelta(seconds=delay)


def first_poll(now: datetime, spread: float, rng: random.Random) -> datetime:
    """A never-polled feed's first due time, spread over `spread` seconds so they do not stampede."""
    return now + timedelta(seconds=rng.uniform(0, max(0.0, spread)))


def is_due(feed: FeedState, now: datetime) -> bool:
    return not feed.gone and (feed.next_due is None or feed.next_due <= now)


def after_fetch(feed: FeedState, result: FetchResult, now: datetime, settings: FetchSettings,
                rng: random.Random, *, body_hash: str | None = None,
                parsed: ParsedFeed | None = None, parse_error: str | None = None,
                floor: float | None = None) -> FeedState:
    """The feed's new state after one fetch (and parse): what the store will write.

    Success resets the failure count; a failure keeps the validators (ETag, Last-Modified) so
    that the next success can still be a cheap 304; a 410 marks the feed gone for this outline.
    `floor` stretches the wait: a feed a WebSub hub pushes to us is polled only as a safety net.
    """
    if result.status == FetchStatus.DEFERRED:
        host_wait = retry_after(result.headers, now) or 0.0
        return replace(feed, next_due=now + timedelta(seconds=host_wait * rng.uniform(1.0, 1.1)))
    changes: dict[str, Any] = {"last_fetch": now, "last_status": result.http_status}
    if result.moved_to:
        changes["moved_to"] = result.moved_to
    failed = result.status == FetchStatus.ERROR or parse_error is not None
    if result.status == FetchStatus.GONE:
        changes.update(gone=True, error_kind=ErrorKind.GONE, error_message=result.error_message,
                       failures=feed.failures + 1, error_since=feed.error_since or now)
    elif failed:
        # an HTML page is told apart from a broken feed: its message names the feeds it links
        body_kind = ErrorKind.NOT_A_FEED if NotAFeed.recognize(parse_error) else ErrorKind.PARSE
        changes.update(error_kind=result.error_kind or body_kind,
                       error_message=result.error_message or parse_error,
                       failures=feed.failures + 1, error_since=feed.error_since or now)
    else:
        changes.update(last_success=now, error_kind=None, error_message=None, failures=0,
                       error_since=None, max_age=cache_max_age(result.headers))
        if result.status == FetchStatus.OK:
            changes.update(etag=result.etag, last_modified=result.last_modified,
                           body_hash=body_hash)
        if parsed is not None:
            changes["ttl"] = parsed.ttl
    wait = retry_after(result.headers, now) if result.http_status in (429, 503) else None
    if floor:
        wait = max(wait or 0.0, floor * rng.uniform(0.9, 1.1))

    def new(name: str) -> Any:
        return changes[name] if name in changes else getattr(feed, name)

    # next_poll() of the new state, read from the changes: the state is built once
    # (dataclasses.replace runs __init__ over FeedState's 30 fields, ~10 us, at every poll)
    changes["next_due"] = _due(new("gone"), new("failures"),
                               _interval(feed.interval, new("max_age"), new("ttl"), settings),
                               settings, now, rng, wait)
    return replace(feed, **changes)


def retry_at(attempts: int, now: datetime, base: float = 60.0, cap: float = 6 * 3600.0
             ) -> datetime:
    """When to retry a failed delivery: 1 min, 2, 4 … doubling per attempt, at most 6 hours."""
    return now + timedelta(seconds=min(cap, base * 2 ** min(max(attempts - 1, 0), 20)))


def next_digest(schedule: Schedule, last_run: datetime | None, now: datetime, tz: ZoneInfo
                ) -> datetime | None:
    """When a watchlist's digest should go out next; None for "instant".

    A slot missed while the daemon was down runs once, now (coalesced), not once per slot.
    """
    if schedule.instant:
        return None
    if last_run is not None:
        missed = schedule.next_after(last_run, tz)
        if missed is not None and missed <= now:
            return now
    return schedule.next_after(now, tz)
