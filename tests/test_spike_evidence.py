"""Mention spikes, the sequential test: a burst caught from the stories since it began, before
or without the whole window crossing the factor; quiet noise kept quiet; one alert an episode."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from veille.spike_evidence import (
    EVIDENCE_NATS,
    expected_since,
    log_likelihood_ratio,
    needed_nats,
    strongest_rise,
)
from veille.spikes import (
    History,
    SpikeSettings,
    SpikeState,
    Story,
    hourly_counts,
    is_spike,
    learn_baseline,
    past_episodes,
    read_window,
    step,
    subject,
    webhook_body,
)

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday
DEFAULTS = SpikeSettings()
FIRST = NOW - timedelta(days=28)
FIVE_AN_HOUR = History({FIRST + timedelta(hours=h): 5 for h in range(28 * 24)}, start=FIRST)
BASELINE = learn_baseline(FIVE_AN_HOUR, NOW, DEFAULTS)


def paced(n: int, first: datetime, last: datetime, prefix: str) -> list[Story]:
    """`n` stories evenly from `first` to `last`."""
    step_ = (last - first) / max(n - 1, 1)
    return [Story(f"{prefix}{i}", first + step_ * i) for i in range(n)]


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def test_evidence_is_the_poisson_log_likelihood_ratio():
    assert log_likelihood_ratio(0, 2.0, 4.0) == pytest.approx(-6.0)
    assert log_likelihood_ratio(10, 2.0, 4.0) == pytest.approx(10 * math.log(4) - 6)
    # it grows with the stories beyond (factor - 1) / ln(factor) = 2.16 times the usual
    assert log_likelihood_ratio(22, 10.0, 4.0) > 0 > log_likelihood_ratio(21, 10.0, 4.0)


def test_the_evidence_needed_grows_with_the_usual_rate():
    """False alarms per hour of a Poisson CUSUM grow with the rate: ln(rate) more nats."""
    assert needed_nats(0.2) == needed_nats(1.0) == EVIDENCE_NATS
    assert needed_nats(5.0) == pytest.approx(EVIDENCE_NATS + math.log(5))


def test_the_newest_minutes_count_half_as_in_the_window():
    full = BASELINE.expected(NOW - minutes(60), NOW)
    assert expected_since(BASELINE, NOW - minutes(60), NOW, 0) == pytest.approx(full)
    assert expected_since(BASELINE, NOW - minutes(60), NOW, 1200) == pytest.approx(full * 5 / 6)
    assert expected_since(BASELINE, NOW, NOW, 1200) == 0


def test_a_rise_needs_the_factor_the_minimum_and_the_evidence():
    """40 minutes at ~5.2 usual an hour: 3.5 expected. 4x needs 14 stories, and 7 + ln 5.2
    nats, n ln 4 - 3 x 3.5 >= 8.65, needs 14 too; the rise starts at the burst's first
    story."""
    start = NOW - minutes(40)
    usual = paced(5, NOW - minutes(119), NOW - minutes(75), "u")
    assert strongest_rise([s.at for s in usual + paced(13, start, NOW, "b")], BASELINE, NOW,
                          4, 5) is None
    rise = strongest_rise([s.at for s in usual + paced(16, start, NOW, "b")], BASELINE, NOW,
                          4, 5)
    assert rise is not None and rise.start == start and rise.count == 16
    assert rise.expected == pytest.approx(BASELINE.expected(start, NOW))
    assert rise.factor >= 4 and rise.evidence >= needed_nats(5.2) > EVIDENCE_NATS
    # the user's min and factor still bind
    assert strongest_rise([s.at for s in paced(16, start, NOW, "b")], BASELINE, NOW, 4,
                          13) is None
    assert strongest_rise([s.at for s in paced(16, start, NOW, "b")], BASELINE, NOW, 5,
                          5) is None


def _replay(stories: list[Story], began: datetime, steps: int, seed: int = 8):
    """Step every 5 minutes from `began`, stories seen up to 20 minutes after their date:
    (whether the window rule alone fired, the first alert)."""
    rng = random.Random(seed)
    seen_at = {s.id: s.at + timedelta(seconds=rng.uniform(0, 1200)) for s in stories}
    state, alert, window_rule = SpikeState(watching_since=FIRST), None, False
    for k in range(1, steps + 1):
        now = began + minutes(5 * k)
        seen = [s for s in stories if seen_at[s.id] <= now]
        _, reading = read_window(BASELINE, seen, now, DEFAULTS, lag=1200)
        window_rule = window_rule or is_spike(reading, DEFAULTS)
        state, event = step(state, BASELINE, seen, now, DEFAULTS, "nestle", lag=1200)
        alert = alert or event
    return window_rule, alert


USUAL = paced(10, NOW - minutes(115), NOW - minutes(5), "u")  # 5 an hour


def test_a_5x_burst_is_caught_long_before_its_window_fills():
    """26 stories an hour (5x) from NOW: the window holds under 4x for its first 80
    minutes or so; the sequential test alerts within 45 minutes."""
    stories = USUAL + paced(44, NOW, NOW + minutes(100), "b")
    window_rule, alert = _replay(stories, NOW, 9)
    assert not window_rule
    assert alert is not None and alert.generated_at <= NOW + minutes(45)
    assert alert.factor >= 4 and alert.count - alert.baseline >= 5
    assert NOW - minutes(10) <= alert.started_at <= NOW + minutes(5)
    assert alert.window == (alert.generated_at - alert.started_at).total_seconds()


def test_a_5x_burst_the_window_never_holds_is_caught():
    """75 minutes at 5x, then the usual rate: no window of 2 h ever holds 4x (at most ~36
    stories where 42 would be), the sequential test alerts during the burst."""
    after = paced(14, NOW + minutes(80), NOW + minutes(240), "v")
    stories = USUAL + paced(32, NOW, NOW + minutes(75), "b") + after
    window_rule, alert = _replay(stories, NOW, 48)
    assert not window_rule
    assert alert is not None and alert.generated_at <= NOW + minutes(75)


def test_the_alert_says_the_burst_so_far():
    stories = paced(16, NOW - minutes(40), NOW, "b")
    _, event = step(SpikeState(watching_since=FIRST), BASELINE, stories, NOW, DEFAULTS, "nestle")
    assert event is not None and event.window == 2400
    assert subject(event) == (f"[veille] ALERTE nestle — 16 articles en 40 min "
                              f"({round(event.factor)}× l'habituel)")
    body = webhook_body(event, [])
    assert body["window"] == 2400 and body["count"] == 16
    assert body["baseline"] == round(BASELINE.expected(NOW - minutes(40), NOW), 2)
    assert event.first == ("b0", "b1", "b2", "b3", "b4")


def _rhythm(hour: datetime) -> float:
    """Busier by day than by night."""
    return 1.7 if 7 <= hour.hour < 19 else 0.3


def _poisson(rng: random.Random, lam: float) -> int:
    n, limit, p = 0, math.exp(-lam), rng.random()
    while p > limit:
        n += 1
        p *= rng.random()
    return n


def _noise(rate: float, first: datetime, hours: int, seed: int) -> list[Story]:
    rng = random.Random(seed)
    out = []
    for h in range(hours):
        start = first + timedelta(hours=h)
        for _ in range(_poisson(rng, rate * _rhythm(start))):
            out.append(Story(f"n{len(out)}", start + timedelta(seconds=rng.uniform(0, 3600))))
    return sorted(out, key=lambda s: s.at)


def _quiet_week_alerts(rate: float, seed: int) -> int:
    """Four weeks learnt, then a week of the same Poisson noise stepped every 5 minutes."""
    start = NOW - timedelta(days=35)
    stories = _noise(rate, start, 35 * 24, seed)
    week = NOW - timedelta(days=7)
    baseline = learn_baseline(History(hourly_counts(s for s in stories if s.at < week), start),
                              week, DEFAULTS)
    state, alerts, i = SpikeState(watching_since=start), 0, 0
    for k in range(7 * 24 * 12):
        now = week + minutes(5 * k)
        while i < len(stories) and stories[i].at <= now - DEFAULTS.window_delta:
            i += 1
        recent = [s for s in stories[i:i + 200] if s.at <= now]
        state, event = step(state, baseline, recent, now, DEFAULTS, "nestle")
        alerts += event is not None
    return alerts


@pytest.mark.parametrize("rate", [1.0, 5.0])
def test_a_quiet_month_of_noise_alarms_at_most_once(rate):
    """The target: at most one false alarm a month, here four weeks of noise (one seed
    each) at 1 and 5 stories an hour with a day/night rhythm (busy hours 8.5 an hour)."""
    assert sum(_quiet_week_alerts(rate, seed) for seed in range(4)) <= 1


def test_one_alert_per_episode_and_rearmed_after_calm():
    """A rise alerts once; more of the burst, no second alert; once the rate has been back
    to usual for a window, the next rise alerts again, as a new episode."""
    settings = DEFAULTS
    state = SpikeState(watching_since=FIRST)
    first_burst = paced(16, NOW - minutes(40), NOW, "a")
    state, event = step(state, BASELINE, first_burst, NOW, settings, "nestle")
    assert event is not None and state.in_episode
    calm_until = NOW + minutes(40 + 125 + 125)
    stories = (first_burst + paced(20, NOW + minutes(2), NOW + minutes(40), "a2")
               + paced(20, NOW + minutes(45), calm_until, "u"))  # then 5 an hour
    for m in range(5, 40 + 125 + 125 + 1, 5):
        now = NOW + minutes(m)
        state, again = step(state, BASELINE, [s for s in stories if s.at <= now], now,
                            settings, "nestle")
        assert again is None
        assert state.in_episode or m > 40 + 120  # calm only once the burst left the window
    assert not state.in_episode
    second = paced(16, calm_until + minutes(1), calm_until + minutes(41), "c")
    state, event2 = step(state, BASELINE, stories + second, calm_until + minutes(41), settings,
                         "nestle")
    assert event2 is not None and event2.id != event.id and state.in_episode


def test_a_restarted_daemon_decides_alike():
    """The test keeps no memory of its own: the same stories and baseline give the same
    alert from a state read back from JSON."""
    stories = paced(16, NOW - minutes(40), NOW, "b")
    state = SpikeState(watching_since=FIRST)
    again = SpikeState.from_json(state.to_json())
    assert step(state, BASELINE, stories, NOW, DEFAULTS, "n") == \
        step(again, BASELINE, stories, NOW, DEFAULTS, "n")


def test_the_report_replays_the_sequential_test_on_hours():
    """An hour of 30 stories after hours of 5 is 6x in its hour, 3.5x over the 2 h window:
    the window rule misses it, the report's episode comes from the rise."""
    hourly = dict(FIVE_AN_HOUR.hourly)
    hourly[NOW - timedelta(hours=3)] = 30
    history = History(hourly, start=FIRST)
    episodes = past_episodes(history, NOW - timedelta(days=1), NOW, DEFAULTS)
    assert [e.started_at for e in episodes] == [NOW - timedelta(hours=3)]
