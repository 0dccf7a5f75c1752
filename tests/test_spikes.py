"""Mention spikes: the baseline, the once-per-episode alert, settings, and the alert's texts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from veille.spikes import (
    FLOOR_RATE,
    History,
    SpikeEvent,
    SpikeSettings,
    SpikeState,
    Story,
    check,
    episode_id,
    format_window,
    hourly_counts,
    learn_baseline,
    parse_spike_settings,
    read_window,
    spike_report,
    step,
    stories_from_events,
    subject,
    webhook_body,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday, 15h in Paris
DEFAULTS = SpikeSettings()


def history(rate: Callable[[datetime], int], days: int = 28, end: datetime = NOW) -> History:
    """`rate(hour_start)` stories in each hour of the `days` before `end`."""
    first = end - timedelta(days=days)
    hours = [first + timedelta(hours=h) for h in range(days * 24)]
    return History({h: rate(h) for h in hours}, start=first)


def burst(n: int, end: datetime = NOW, span: timedelta = timedelta(minutes=110),
          prefix: str = "b") -> list[Story]:
    """`n` stories spread evenly over the `span` before `end`."""
    return [Story(f"{prefix}{i}", end - span + span * i / n) for i in range(n)]


def run(state: SpikeState, hist: History, stories: list[Story], now: datetime = NOW,
        settings: SpikeSettings = DEFAULTS) -> tuple[SpikeState, SpikeEvent | None]:
    return check(state, hist, stories, now, settings, "nestle")


# --- cold start ------------------------------------------------------------------------------

def test_no_record_at_all_never_alerts():
    """A rate learnt from minutes is noise: nothing before the warm-up, whatever the count."""
    state, event = run(SpikeState(), History({}), burst(30))
    assert event is None
    assert state.watching_since == NOW


def test_a_quiet_record_gets_the_floor_and_min_count_keeps_two_mentions_quiet():
    quiet = History({}, start=NOW - timedelta(days=10))
    baseline = learn_baseline(quiet, NOW, DEFAULTS)
    assert baseline.ready and baseline.mean_rate == pytest.approx(FLOOR_RATE)
    assert run(SpikeState(), quiet, burst(2))[1] is None  # 48x the floor, but 2 stories
    assert run(SpikeState(), quiet, burst(5))[1] is None  # 5 - 0.04 above: not 5 above
    _, event = run(SpikeState(), quiet, burst(6))
    assert event is not None and event.count == 6
    assert event.baseline == pytest.approx(2 * FLOOR_RATE)


def test_min_is_stories_above_the_baseline():
    """About 10.4 usual per window: 4x needs 42 stories; min=36 needs 47 (36 above 10.4).
    The stories fill the whole window, so that no part of it is denser than the whole (the
    sequential test alerts on 41 in the last 110 minutes: 4.3x since they began)."""
    five_an_hour = history(lambda h: 5)
    usual = learn_baseline(five_an_hour, NOW, DEFAULTS).expected(NOW - timedelta(hours=2), NOW)
    assert 10.25 < usual < 10.5
    strict = SpikeSettings(min_count=36)
    full = timedelta(minutes=119)
    assert run(SpikeState(), five_an_hour, burst(41, span=full))[1] is None
    assert run(SpikeState(), five_an_hour, burst(42, span=full))[1] is not None
    assert run(SpikeState(), five_an_hour, burst(46, span=full), settings=strict)[1] is None
    assert run(SpikeState(), five_an_hour, burst(47, span=full), settings=strict)[1] is not None
    _, early = run(SpikeState(), five_an_hour, burst(41))
    assert early is not None and early.factor >= 4 and early.window < 7200


# --- one alert per episode -------------------------------------------------------------------

ONE_AN_HOUR = history(lambda h: 1)


def test_a_clear_burst_alerts_once_with_what_how_much_and_why():
    stories = [Story("usual0", NOW - timedelta(minutes=115)),
               Story("usual1", NOW - timedelta(minutes=100))] + burst(12, span=timedelta(minutes=50))
    state, event = run(SpikeState(), ONE_AN_HOUR, stories)
    assert event is not None
    assert event.watchlist == "nestle" and event.count == 14 and event.window == 7200
    assert 2 <= event.baseline <= 2.5  # 2 usual, and a small margin for what 4 weeks can tell
    assert event.factor == pytest.approx(event.count / event.baseline)
    assert event.started_at == stories[2].at  # the burst's first story, not the usual ones
    assert event.first == ("b0", "b1", "b2", "b3", "b4")
    assert event.stories[:2] == ("usual0", "usual1") and len(event.stories) == 14
    assert state.in_episode and state.episode_id == event.id and state.alerted_at == NOW
    assert event.id == episode_id("nestle", event.started_at)


def test_biggest_stories_are_those_most_copied():
    stories = [Story(f"s{i}", NOW - timedelta(minutes=60 - i), copies=1 + (i % 4) * (i // 4))
               for i in range(12)]
    _, event = run(SpikeState(), ONE_AN_HOUR, stories)
    assert event is not None
    assert event.biggest == ("s11", "s10", "s7", "s6", "s9")  # 7, 5, 4, 3 and 3 copies


def test_no_second_alert_during_the_episode():
    state, event = run(SpikeState(), ONE_AN_HOUR, burst(14))
    assert event is not None
    for minutes in range(5, 180, 5):
        now = NOW + timedelta(minutes=minutes)
        state, again = run(state, ONE_AN_HOUR, burst(14 + minutes // 10, end=now), now)
        assert again is None and state.in_episode
    assert state.peak_count == 14 + 175 // 10


def test_rearms_only_after_calm_lasted_a_window():
    state, event = run(SpikeState(), ONE_AN_HOUR, burst(14))
    assert event is not None
    calm = NOW + timedelta(hours=1)
    state, _ = run(state, ONE_AN_HOUR, burst(2, end=calm), calm)
    assert state.in_episode and state.calm_since == calm
    # a second wave before calm lasted a window: the same episode
    wave = calm + timedelta(hours=1)
    state, again = run(state, ONE_AN_HOUR, burst(14, end=wave), wave)
    assert again is None and state.in_episode and state.calm_since is None
    later = wave + timedelta(hours=1)
    state, _ = run(state, ONE_AN_HOUR, burst(1, end=later), later)
    state, _ = run(state, ONE_AN_HOUR, [], later + timedelta(hours=2))
    assert not state.in_episode and state.watching_since == NOW
    news = later + timedelta(hours=5)
    state, second = run(state, ONE_AN_HOUR, burst(14, end=news), news)
    assert second is not None and second.id != event.id and state.in_episode


def test_hovering_near_the_threshold_does_not_end_the_episode():
    """Hysteresis: 3x the usual is under the alert factor but above factor/2."""
    state, _ = run(SpikeState(), ONE_AN_HOUR, burst(14))
    for minutes in range(5, 300, 5):
        now = NOW + timedelta(minutes=minutes)
        state, again = run(state, ONE_AN_HOUR, burst(7, end=now), now)
        assert again is None and state.in_episode


def test_a_daemon_may_keep_the_baseline_an_hour_and_step_every_five_minutes():
    baseline = learn_baseline(ONE_AN_HOUR, NOW, DEFAULTS)
    state, events = SpikeState(), []
    for minutes in range(0, 60, 5):
        now = NOW + timedelta(minutes=minutes)
        stories = burst(2 + minutes // 5 * 2, end=now)
        state, event = step(state, baseline, stories, now, DEFAULTS, "nestle")
        events += [event] if event else []
    [event] = events
    assert event.generated_at == NOW + timedelta(minutes=20) and event.count == 10  # > 4 x 2.3


def test_lag_expects_the_newest_minutes_only_in_part():
    """Feeds polled every 20 minutes have shown on average half of the last 20 minutes."""
    baseline = learn_baseline(ONE_AN_HOUR, NOW, DEFAULTS)
    _, full = read_window(baseline, burst(8), NOW, DEFAULTS)
    _, polled = read_window(baseline, burst(8), NOW, DEFAULTS, lag=1200)
    assert polled.count == full.count == 8
    assert polled.expected == pytest.approx(full.expected * (1 - 1 / 12), rel=0.02)
    assert step(SpikeState(), baseline, burst(8), NOW, DEFAULTS, "nestle")[1] is None
    assert step(SpikeState(), baseline, burst(8), NOW, DEFAULTS, "nestle", lag=1200)[1]


def test_old_stories_are_not_in_the_window():
    stories = burst(20, end=NOW - timedelta(hours=2))
    assert run(SpikeState(), ONE_AN_HOUR, stories)[1] is None


def test_spike_false_turns_it_off():
    off = parse_spike_settings(False)
    state, event = run(SpikeState(), ONE_AN_HOUR, burst(50), settings=off)
    assert event is None and not state.in_episode


# --- rhythm and outliers ---------------------------------------------------------------------

def busy_weekdays(hour: datetime) -> int:
    """Weekdays 8h-19h local: 4 an hour; weekday nights 1 every other hour; weekends 1 an
    hour by day, 1 in 4 hours at night."""
    local = hour.astimezone(PARIS)
    day = 8 <= local.hour < 19
    if local.weekday() < 5:
        return 4 if day else local.hour % 2
    return 1 if day else int(local.hour % 4 == 0)


def test_a_normal_monday_morning_is_not_a_spike_but_the_same_on_sunday_night_is():
    monday_11h = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 11h in Paris
    sunday_5h = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    for now in (monday_11h, sunday_5h):
        hist = history(busy_weekdays, end=now)
        baseline = learn_baseline(hist, now, DEFAULTS, PARIS)
        window = (now - DEFAULTS.window_delta, now)
        if now == monday_11h:
            assert 7 <= baseline.expected(*window) <= 10
            assert check(SpikeState(), hist, burst(10, end=now), now, DEFAULTS, "w", PARIS)[1] is None
        else:
            assert baseline.expected(*window) < 1
            assert check(SpikeState(), hist, burst(10, end=now), now, DEFAULTS, "w", PARIS)[1]


def test_the_rhythm_follows_local_time_across_dst():
    """The baseline is by hour of the local week: four weeks across the October change
    (busy from 8h Paris: 6h UTC before it, 7h after) still make 8h-19h Paris the busy hours."""
    now = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    baseline = learn_baseline(history(busy_weekdays, end=now), now, DEFAULTS, PARIS)
    ten = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
    assert baseline.rate_at(ten) == pytest.approx(4, rel=0.2)
    assert baseline.rate_at(ten - timedelta(hours=7)) < 1  # 3h Paris
    assert baseline.rate_at(ten + timedelta(hours=11)) < 1  # 21h Paris


def test_one_past_burst_barely_moves_the_baseline():
    def with_burst(hour: datetime) -> int:
        return 60 if NOW - timedelta(days=9, hours=3) <= hour < NOW - timedelta(days=9) else 2

    clean = learn_baseline(history(lambda h: 2), NOW, DEFAULTS)
    noisy = learn_baseline(history(with_burst), NOW, DEFAULTS)
    assert noisy.mean_rate <= clean.mean_rate * 1.05
    same_hour = NOW - timedelta(days=7, hours=1)  # the burst's hours, a week later
    assert noisy.rate_at(same_hour) <= clean.rate_at(same_hour) * 1.25
    # 174 stories over 672 hours would have raised a plain mean by 13%


def test_a_lasting_rise_raises_the_baseline():
    """Not an outlier: a brand in the news every day for two weeks is the new usual."""
    risen = learn_baseline(history(lambda h: 6 if h >= NOW - timedelta(days=14) else 2), NOW,
                           DEFAULTS)
    assert risen.mean_rate > 3.5


def test_archives_older_than_the_start_extend_the_record():
    """A new install learns from its feeds' archives at once: the oldest story counts."""
    archives = {NOW - timedelta(days=3) + timedelta(hours=h): 1 for h in range(0, 72, 3)}
    baseline = learn_baseline(History(archives, start=NOW - timedelta(minutes=10)), NOW,
                              DEFAULTS)
    assert baseline.ready and baseline.hours == 70
    assert 1 / 3 <= baseline.mean_rate <= 0.6  # 24 stories in 3 days, and a margin for so few


# --- settings --------------------------------------------------------------------------------

def test_settings_defaults():
    assert parse_spike_settings(None) == SpikeSettings(True, 4.0, 5, 7200.0)
    assert parse_spike_settings(True) == SpikeSettings()
    assert parse_spike_settings({}) == SpikeSettings()
    assert parse_spike_settings(False) == SpikeSettings(enabled=False)
    assert parse_spike_settings({"factor": 3, "min": 2, "window": "90m"}) == SpikeSettings(
        True, 3.0, 2, 5400.0)
    assert parse_spike_settings({"window": 1800}).window == 1800
    assert parse_spike_settings({"factor": 2.5}).factor == 2.5


@pytest.mark.parametrize(("value", "message"), [
    ({"factor": 1}, "spike.factor: must be above 1"),
    ({"factor": "4"}, "spike.factor: expected a number"),
    ({"factor": True}, "spike.factor: expected a number"),
    ({"min": 0}, "spike.min: must be at least 1"),
    ({"min": 2.5}, "spike.min: expected a whole number"),
    ({"window": "2 hours"}, 'spike.window: expected a duration like "2h"'),
    ({"window": "1m"}, "spike.window: must be between 5m and 1d"),
    ({"window": "3d"}, "spike.window: must be between"),
    ({"windw": "2h"}, 'unknown key \'windw\' (did you mean "window"?)'),
    ("yes", "spike: expected a table"),
    (4, "spike: expected a table"),
])
def test_settings_bad_values(value, message):
    with pytest.raises(ValueError) as info:
        parse_spike_settings(value)
    assert message in str(info.value)


# --- texts -----------------------------------------------------------------------------------

def event(count: int = 38, window: float = 7200, factor: float = 9.2) -> SpikeEvent:
    started = NOW - timedelta(minutes=70)
    return SpikeEvent(episode_id("nestle", started), "nestle", NOW, window, count,
                      count / factor, factor, started, ("a", "b"), ("a",), ("b",))


def test_subject_exact():
    assert subject(event()) == "[veille] ALERTE nestle — 38 articles en 2 h (9× l'habituel)"
    assert subject(event(6, 1800, 12.5)) == (
        "[veille] ALERTE nestle — 6 articles en 30 min (13× l'habituel)")
    assert subject(event(1, 5400, 4.49)) == (
        "[veille] ALERTE nestle — 1 article en 1 h 30 (4× l'habituel)")


@pytest.mark.parametrize(("seconds", "text"), [
    (7200, "2 h"), (1800, "30 min"), (5400, "1 h 30"), (3900, "1 h 05"), (300, "5 min"),
    (86400, "24 h"), (3600, "1 h"),
])
def test_window_in_french(seconds, text):
    assert format_window(seconds) == text


def test_webhook_body():
    matches = [{"title": "Nestlé rappelle des pizzas", "link": "https://x/1"}]
    body = webhook_body(event(), matches)
    assert set(body) == {"id", "kind", "watchlist", "generated_at", "window", "count",
                         "baseline", "factor", "matches"}
    assert body["kind"] == "spike" and body["watchlist"] == "nestle"
    assert body["id"] == event().id == episode_id("nestle", NOW - timedelta(minutes=70))
    assert body["generated_at"] == "2026-11-23T14:00:00+00:00"
    assert (body["window"], body["count"], body["factor"]) == (7200, 38, 9.2)
    assert body["baseline"] == round(38 / 9.2, 2) and body["matches"] == matches
    json.dumps(body)


def test_episode_id_is_stable_and_per_episode():
    assert episode_id("nestle", NOW) == episode_id("nestle", NOW.astimezone(PARIS))
    assert episode_id("nestle", NOW) != episode_id("nestle", NOW + timedelta(hours=1))
    assert episode_id("nestle", NOW) != episode_id("danone", NOW)


# --- plumbing --------------------------------------------------------------------------------

def test_state_is_plain_json():
    state, _ = run(SpikeState(), ONE_AN_HOUR, burst(14))
    text = json.dumps(state.to_json())
    assert SpikeState.from_json(json.loads(text)) == state
    assert SpikeState.from_json({}) == SpikeState()
    assert SpikeState.from_json({"peak_count": 3, "from_the_future": 1}).peak_count == 3


def test_stories_from_events_counts_each_story_once_by_its_first_copy():
    t = NOW - timedelta(minutes=30)
    events = [(t, "x"), (t - timedelta(minutes=5), "x"), (t, "y"), (t + timedelta(minutes=1), "x")]
    assert stories_from_events(events) == [Story("x", t - timedelta(minutes=5), 3),
                                           Story("y", t, 1)]
    assert hourly_counts(stories_from_events(events)) == {
        datetime(2026, 11, 23, 13, 0, tzinfo=UTC): 2}


def test_report_gives_the_current_window_and_past_episodes():
    def with_burst(hour: datetime) -> int:
        return 12 if NOW - timedelta(days=3, hours=4) <= hour < NOW - timedelta(days=3) else 1

    hist = history(with_burst, days=40)
    report = spike_report("nestle", SpikeState(), hist, burst(3), NOW, NOW - timedelta(days=7),
                          DEFAULTS)
    assert report.count == 3 and 2 <= report.baseline <= 2.7 and not report.in_episode_since
    [episode] = report.episodes
    assert episode.started_at == NOW - timedelta(days=3, hours=4)
    assert episode.ended_at is not None and episode.ended_at <= NOW - timedelta(days=2, hours=22)
    assert episode.peak_count == 24 and episode.peak_factor > 8
    assert json.dumps(report.as_dict())
    off = spike_report("nestle", SpikeState(), hist, burst(3), NOW, NOW - timedelta(days=7),
                       parse_spike_settings(False))
    assert not off.enabled and off.episodes == ()
