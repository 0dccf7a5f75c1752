"""Scheduling decisions as pure functions of state and a clock: no sleeping here."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from veille.config import FetchSettings
from veille.cron import parse_schedule
from veille.models import FeedState, FetchResult
from veille.schedule import (
    after_fetch,
    backoff,
    cache_max_age,
    is_due,
    next_digest,
    next_poll,
    retry_after,
    retry_at,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
S = FetchSettings(interval=1800, max_interval=86400)


def seconds_until(when: datetime) -> float:
    return (when - NOW).total_seconds()


@pytest.mark.parametrize("failures, expected", [(0, 1800), (1, 1800), (2, 3600), (3, 7200),
                                                (6, 57600), (7, 86400), (40, 86400)])
def test_backoff_doubles_and_is_capped(failures, expected):
    assert backoff(failures, 1800, S) == expected


def test_next_poll_jitters_within_ten_percent():
    rng = random.Random(7)
    delays = {seconds_until(next_poll(FeedState("u"), S, NOW, rng)) for _ in range(200)}
    assert min(delays) >= 1620 and max(delays) <= 1980 and len(delays) > 100


@pytest.mark.parametrize("state, low, high", [
    (FeedState("u", max_age=7200), 7200 * 0.9, 7200 * 1.1),  # Cache-Control stretches
    (FeedState("u", ttl=3600), 3600 * 0.9, 3600 * 1.1),  # RSS <ttl> stretches
    (FeedState("u", max_age=60), 1800 * 0.9, 1800 * 1.1),  # …but never shrinks
    (FeedState("u", ttl=10 * 86400), 86400 * 0.9, 86400 * 1.1),  # …and is capped
    (FeedState("u", interval=300), 270, 330),  # per-feed interval from the OPML
    (FeedState("u", failures=3), 7200 * 0.9, 7200 * 1.1),
])
def test_next_poll_follows_hints_and_failures(state, low, high):
    assert low <= seconds_until(next_poll(state, S, NOW, random.Random(1))) <= high


def test_gone_feeds_are_never_polled():
    assert next_poll(FeedState("u", gone=True), S, NOW, random.Random(1)) is None
    assert not is_due(FeedState("u", gone=True), NOW)
    assert is_due(FeedState("u"), NOW) and not is_due(FeedState("u", next_due=NOW +
                                                                 timedelta(seconds=1)), NOW)


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after({"retry-after": "120"}, NOW) == 120
    assert retry_after({"retry-after": "Wed, 25 Nov 2026 13:00:00 GMT"}, NOW) == 3600
    assert retry_after({"retry-after": "soon"}, NOW) is None
    assert retry_after({}, NOW) is None


def test_cache_max_age():
    assert cache_max_age({"cache-control": "public, max-age=600"}) == 600
    assert cache_max_age({"cache-control": "max-age=600", "age": "100"}) == 500
    assert cache_max_age({"cache-control": "no-cache, max-age=600"}) is None


def test_after_fetch_on_429_waits_for_retry_after_and_counts_a_failure():
    result = FetchResult("u", "error", 429, headers={"retry-after": "86000"},
                         error_kind="http", error_message="HTTP 429 Too Many Requests")
    state = after_fetch(FeedState("u", etag='"e"'), result, NOW, S, random.Random(1))
    assert state.failures == 1 and state.error_since == NOW and state.etag == '"e"'
    assert seconds_until(state.next_due) >= 86000


def test_after_fetch_success_resets_failures_and_stores_validators():
    failing = FeedState("u", failures=5, error_since=NOW - timedelta(days=1), error_kind="http")
    ok = FetchResult("u", "ok", 200, b"x", {"etag": '"v2"', "last-modified": "Tue",
                                            "cache-control": "max-age=3600"})
    state = after_fetch(failing, ok, NOW, S, random.Random(1), body_hash="h")
    assert (state.failures, state.error_since, state.error_kind) == (0, None, None)
    assert state.etag == '"v2"' and state.body_hash == "h" and state.max_age == 3600
    assert state.last_success == NOW and seconds_until(state.next_due) >= 3600 * 0.9


@pytest.mark.parametrize("feed, result", [
    (FeedState("u", failures=2, interval=600, ttl=7200),
     FetchResult("u", "ok", 200, b"x", {"cache-control": "max-age=3600"})),
    (FeedState("u", max_age=90000), FetchResult("u", "not_modified", 304)),
    (FeedState("u", failures=3), FetchResult("u", "error", 500, error_kind="http",
                                             error_message="HTTP 500")),
    (FeedState("u"), FetchResult("u", "error", 503, headers={"retry-after": "7000"},
                                 error_kind="http", error_message="HTTP 503")),
    (FeedState("u", failures=1), FetchResult("u", "gone", 410)),
])
def test_after_fetch_is_due_when_next_poll_says_of_its_new_state(feed, result):
    """after_fetch builds the new state once, reading the next due time from the changes:
    it is the one next_poll gives for that state (same jitter)."""
    state = after_fetch(feed, result, NOW, S, random.Random(7))
    wait = retry_after(result.headers, NOW) if result.http_status in (429, 503) else None
    assert state.next_due == next_poll(state, S, NOW, random.Random(7), wait)


def test_after_fetch_gone_and_moved():
    gone = after_fetch(FeedState("u"), FetchResult("u", "gone", 410), NOW, S, random.Random(1))
    assert gone.gone and gone.next_due is None
    moved = after_fetch(FeedState("u"), FetchResult("u", "not_modified", 304, moved_to="v"),
                        NOW, S, random.Random(1))
    assert moved.moved_to == "v" and moved.fetch_url == "v"


@pytest.mark.parametrize("text, now, expected", [
    ("daily 08:00", "2026-11-25T06:00", "2026-11-25T07:00"),  # 08:00 Paris = 07:00 UTC
    ("daily 08:00", "2026-11-25T07:00", "2026-11-26T07:00"),
    ("hourly", "2026-11-25T06:30", "2026-11-25T07:00"),
    ("weekly mon 08:00", "2026-11-25T12:00", "2026-11-30T07:00"),
    ("*/15 9-17 * * 1-5", "2026-11-28T12:00", "2026-11-30T08:00"),  # Saturday -> Monday 9:00
    ("0 8 1 * *", "2026-11-25T12:00", "2026-12-01T07:00"),
    ("daily 08:00", "2026-03-28T12:00", "2026-03-29T06:00"),  # summer time starts
    # 02:30 does not exist that night: it runs an hour later on the new clock (03:30), as
    # cron runs what the jump skipped, rather than not at all that day
    ("30 2 * * *", "2026-03-28T12:00", "2026-03-29T01:30"),
    ("hourly", "2026-03-29T00:30", "2026-03-29T01:00"),  # 02:00 is 03:00: one run, not two
    ("hourly", "2026-03-29T01:00", "2026-03-29T02:00"),
    # winter time: 02:30 comes twice; a daily slot runs at its first pass only...
    ("daily 02:30", "2026-10-25T00:00", "2026-10-25T00:30"),
    ("daily 02:30", "2026-10-25T00:30", "2026-10-26T01:30"),
    # ... even when asked during the second pass (it answered a past slot: a digest loop)
    ("daily 02:30", "2026-10-25T01:10", "2026-10-26T01:30"),
    # and a schedule of every hour has both passes, each once
    ("*/30 * * * *", "2026-10-25T00:30", "2026-10-25T01:00"),
    ("*/30 * * * *", "2026-10-25T01:00", "2026-10-25T01:30"),
])
def test_cron_next_after(text, now, expected):
    when = parse_schedule(text).next_after(datetime.fromisoformat(now).replace(tzinfo=UTC), PARIS)
    assert when == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize("text", ["daily 02:30", "daily 08:00", "hourly", "*/15 * * * *",
                                  "30 2 * * *", "0 2-3 * * *", "weekly dim 02:00"])
def test_the_next_run_is_always_ahead_across_clock_changes(text):
    """Minute by minute through both nights the clocks change in Paris: the next run is
    after now, and runs follow each other, each once (a past slot was once answered during
    the repeated hour, and the daemon sent the digest in a loop)."""
    schedule = parse_schedule(text)
    for night in (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC)):
        runs = set()
        for minute in range(0, 6 * 60):
            now = night + timedelta(minutes=minute)
            run = schedule.next_after(now, PARIS)
            assert run is not None and run > now
            runs.add(run)
        assert len(runs) == len(set(r.astimezone(UTC) for r in runs))
        ordered = sorted(runs)
        assert all(b > a for a, b in zip(ordered, ordered[1:], strict=False))


@pytest.mark.parametrize("text, weekdays", [
    ("weekly lun-ven 08:00", {1, 2, 3, 4, 5}), ("weekly mon-fri 08:00", {1, 2, 3, 4, 5}),
    ("weekly mon,wed 08:00", {1, 3}), ("weekly vendredi 08:00", {5}),
    ("weekly dimanche 08:00", {0}), ("weekly ven-lun 08:00", {5, 6, 0, 1}),
    ("0 8 * * fri-mon", {5, 6, 0, 1}),
])
def test_weekly_takes_lists_and_ranges_of_days(text, weekdays):
    """"weekly lun-ven 08:00" was read by its first three letters: Monday only, silently."""
    assert parse_schedule(text).weekdays == weekdays


@pytest.mark.parametrize("text", ["daily 25:00", "weekly xyz 08:00", "sometimes", "* * * *",
                                  "61 * * * *", "*/0 * * * *", "5-1 * * * *",
                                  "weekly samplers 08:00", "weekly march 08:00",
                                  "weekly lun-ven-sam 08:00", "weekly lundis 08:00"])
def test_bad_schedules(text):
    with pytest.raises(ValueError):
        parse_schedule(text)


def test_missed_digest_runs_once_now():
    daily = parse_schedule("daily 08:00")
    three_days_ago = NOW - timedelta(days=3)
    assert next_digest(daily, three_days_ago, NOW, PARIS) == NOW  # once, not three times
    assert next_digest(daily, NOW, NOW, PARIS) == datetime(2026, 11, 26, 7, tzinfo=UTC)
    assert next_digest(daily, None, NOW, PARIS) == datetime(2026, 11, 26, 7, tzinfo=UTC)
    assert next_digest(parse_schedule("instant"), None, NOW, PARIS) is None


def test_delivery_retry_backoff():
    assert [seconds_until(retry_at(n, NOW)) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert seconds_until(retry_at(30, NOW)) == 6 * 3600
