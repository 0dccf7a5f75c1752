"""Mention spikes: a watchlist suddenly mentioned far more than usual. Pure: no I/O, no clock.

Counting is by story (one dispatch copied by 20 feeds is one mention), dated by the story's
first copy: its published date, or when veille first saw it if undated. Silent matches
count too, so a new install learns at once from the archives its feeds carry. The caller
(the store) provides, per watchlist:

* `History(hourly, start)`: distinct stories per UTC hour, keyed by the hour's start, over
  at least the `BASELINE_DAYS` (28) days before the window; zero hours may be left out.
  Stories GROUP BY their key with MIN(published), then COUNT(*) GROUP BY that hour.
  `start` is since when the record is complete (`SpikeState.watching_since`).
* the window's stories, `Story(id, at, copies)`: one per story whose first copy is in the
  window (`at` > now - window), `copies` its matched entries. `stories_from_events` builds
  them from raw (time, story id) rows.

The baseline (`learn_baseline`) is a Poisson rate per hour of the week, in local time:
level x hour-of-day profile x day-of-week profile, fitted on the 4 weeks before the window.

* Not median and MAD per hour of week: 4 weeks give 4 samples per cell, and for the many
  watchlists under about one story an hour the median and the MAD of such counts are 0, so
  the baseline would be 0 and any story a spike. The product pools 28 samples per hour of
  the day and 96 hours per weekday: enough to see a Monday-morning rhythm at 0.2 stories/h.
* Profiles are shrunk toward flat by pseudo-counts (the hour-of-day one also smoothed over
  its neighbours), so a sparse list gets a nearly flat baseline instead of its noise.
* Outliers: hours far above the fit (mean + 3 sd + 1) are clipped to that bound and the
  model refitted, twice, so one past burst barely moves the baseline, while a lasting rise
  (a brand in the news every day now) raises the level, as it should.
* The rate used is the fit plus half its standard error (`UNCERTAINTY_Z`), from the number
  of stories behind each hour's estimate: +4% for a list at 5 stories/h after 4 weeks, +25%
  after one day. It keeps the first days quiet (the daily rhythm is still flat in the model,
  so a normal morning looks high) and halves false alarms at 1 story/h, for a few points of
  detection of 5x bursts (the evaluation tried 0, 0.5 and 1).
* Cold start: no alert before the record covers `WARMUP_HOURS`; the rate never goes under
  `FLOOR_RATE`, so a list that never matched has a finite baseline and readable factors.
* No negative binomial: the alert rule is the user's, factor AND excess (`is_spike`), so only
  the expected count is needed; the minimum excess does the work of a significance test
  for sparse lists. bench/eval_spikes.py measures detection and false alarms.

The detector (`step`) alerts when the window meets `factor` and `min` (`is_spike`), or when
the sequential test of spike_evidence.py finds a burst since a story of the window that
meets them with enough evidence (bench/eval_spikes.py: 5x bursts at 5 stories an hour are
flagged within 30 min of their window filling 83-97% of the time instead of 70-84%).
It alerts once per episode; the episode ends after the rate has been
calm (`is_calm`: under half the factor, or under half the minimum excess) for a whole
window. Its state is a small JSON-able `SpikeState` per watchlist. A step costs O(window)
with a `Baseline` the caller keeps for up to an hour; a relearn costs O(hours of history +
168), about a millisecond, and `check` does both for callers that keep nothing.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

# the model's public names, re-exported: spikes is the module callers import
from .spike_baseline import (  # noqa: F401
    BASELINE_DAYS,
    CLIP_ROUNDS,
    CLIP_SD,
    FLOOR_RATE,
    HOUR,
    MAX_WINDOW,
    MIN_WINDOW,
    PROFILE_PSEUDO,
    TOP_STORIES,
    UNCERTAINTY_Z,
    WARMUP_HOURS,
    WEEK_HOURS,
    Baseline,
    History,
    SpikeSettings,
    Story,
    _epoch_hour,
    _from_epoch_hour,
    hourly_counts,
    learn_baseline,
    parse_spike_settings,
    stories_from_events,
)
from .spike_evidence import EVIDENCE_NATS, Rise, strongest_rise  # noqa: F401

# --- detector --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpikeState:
    """What a watchlist's detector remembers between steps; `to_json()` / `from_json()`.

    Armed when `episode_start` is None. In an episode it keeps the episode's id, its peak,
    and since when the rate has been calm (the episode ends when calm lasts a window)."""

    watching_since: datetime | None = None
    episode_start: datetime | None = None
    episode_id: str | None = None
    alerted_at: datetime | None = None
    peak_count: int = 0
    peak_factor: float = 0.0
    calm_since: datetime | None = None

    @property
    def in_episode(self) -> bool:
        return self.episode_start is not None

    def to_json(self) -> dict[str, Any]:
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpikeState:
        """Unknown keys are ignored and missing ones take their defaults, so a state written
        by another version still loads."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name, f.default)
            if isinstance(value, str) and f.name in _STATE_TIMES:
                value = datetime.fromisoformat(value)
            values[f.name] = value
        return cls(**values)


_STATE_TIMES = ("watching_since", "episode_start", "alerted_at", "calm_since")


@dataclass(frozen=True)
class SpikeEvent:
    """One alert: `count` stories in `window` seconds up to `generated_at` (the watchlist's
    window, or since the burst began for the sequential test's alerts), against `baseline`
    expected over them, `factor` = count / baseline. Story ids:
    `stories` all of the window's (oldest first), `first` the earliest since the burst
    began (`started_at`), `biggest` those carried by the most feeds."""

    id: str
    watchlist: str
    generated_at: datetime
    window: float
    count: int
    baseline: float
    factor: float
    started_at: datetime
    stories: tuple[str, ...] = ()
    first: tuple[str, ...] = ()
    biggest: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    """The window as `step` sees it: stories counted, expected, and the ratio."""

    count: int
    expected: float

    @property
    def factor(self) -> float:
        return self.count / self.expected if self.expected > 0 else math.inf


def is_spike(reading: Reading, settings: SpikeSettings) -> bool:
    """Both: `factor` times the baseline, and `min_count` stories above it. The second keeps
    sparse lists quiet (3 stories where 0.4 are usual is 7x, and happens every few weeks)."""
    return (reading.count >= settings.factor * reading.expected
            and reading.count - reading.expected >= settings.min_count)


def is_calm(reading: Reading, settings: SpikeSettings) -> bool:
    """Hysteresis: an episode calms down when either condition fails by half, below
    max(1, factor/2) times the baseline or less than min/2 stories above it, so a rate that
    hovers around the threshold does not alert on every crossing."""
    return (reading.count < max(1.0, settings.factor / 2) * reading.expected
            or reading.count - reading.expected < settings.min_count / 2)


def window_stories(stories: Iterable[Story], now: datetime, settings: SpikeSettings) -> list[Story]:
    """The window's stories, oldest first. Stories dated after `now` (a feed's clock ahead)
    are counted: they are being published now."""
    start = now - settings.window_delta
    return sorted((s for s in stories if s.at > start), key=lambda s: (s.at, s.id))


def read_window(baseline: Baseline, stories: Iterable[Story], now: datetime,
                settings: SpikeSettings, lag: float = 0.0) -> tuple[list[Story], Reading]:
    """The window's stories and its reading. `lag`: seconds within which a new story is
    surely seen (the feeds' poll interval). A story published in the last `lag` seconds is
    seen only if its feed was polled since, with a chance growing linearly to 1 over the
    lag, so those seconds are expected at half their rate; else a polled, not pushed, window
    always reads low by lag/2 of it (8% for 20 minutes of 2 hours)."""
    recent = window_stories(stories, now, settings)
    start = now - settings.window_delta
    unseen = timedelta(seconds=min(max(lag, 0.0), settings.window))
    expected = baseline.expected(start, now) - baseline.expected(now - unseen, now) / 2
    return recent, Reading(len(recent), expected)


def step(state: SpikeState, baseline: Baseline, stories: Iterable[Story], now: datetime,
         settings: SpikeSettings, watchlist: str,
         lag: float = 0.0) -> tuple[SpikeState, SpikeEvent | None]:
    """One look at a watchlist: the new state, and an event when an episode begins.

    `stories`: at least those whose first copy falls in the window (older ones are ignored);
    `lag`: see `read_window`. Alerts once per episode; the episode ends once calm
    (`is_calm`) has lasted a window."""
    if not settings.enabled:
        return SpikeState(watching_since=state.watching_since or now), None
    if state.watching_since is None:
        state = replace(state, watching_since=now)
    recent, reading = read_window(baseline, stories, now, settings, lag)
    if state.in_episode:
        return _continue_episode(state, reading, now, settings), None
    if not baseline.ready:
        return state, None
    if is_spike(reading, settings):
        event = _event(watchlist, recent, reading, baseline, now, settings)
    else:
        rise = strongest_rise([s.at for s in recent], baseline, now, settings.factor,
                              settings.min_count, lag)
        if rise is None:
            return state, None
        event = _rise_event(watchlist, recent, rise, now)
    return replace(state, episode_start=event.started_at, episode_id=event.id, alerted_at=now,
                   peak_count=reading.count, peak_factor=reading.factor, calm_since=None), event


def _continue_episode(state: SpikeState, reading: Reading, now: datetime,
                      settings: SpikeSettings) -> SpikeState:
    if not is_calm(reading, settings):
        return replace(state, calm_since=None, peak_count=max(state.peak_count, reading.count),
                       peak_factor=max(state.peak_factor, reading.factor))
    calm_since = state.calm_since or now
    if now - calm_since >= settings.window_delta:
        return SpikeState(watching_since=state.watching_since)
    return replace(state, calm_since=calm_since)


def _event(watchlist: str, recent: Sequence[Story], reading: Reading, baseline: Baseline,
           now: datetime, settings: SpikeSettings) -> SpikeEvent:
    started = burst_start(recent, reading.expected / (settings.window / HOUR), now,
                          settings.factor)
    burst = [s for s in recent if s.at >= started]
    biggest = sorted(burst, key=lambda s: (-s.copies, s.at, s.id))
    return SpikeEvent(
        id=episode_id(watchlist, started), watchlist=watchlist, generated_at=now,
        window=settings.window, count=reading.count, baseline=reading.expected,
        factor=reading.factor, started_at=started, stories=tuple(s.id for s in recent),
        first=tuple(s.id for s in burst[:TOP_STORIES]),
        biggest=tuple(s.id for s in biggest[:TOP_STORIES]))


def _rise_event(watchlist: str, recent: Sequence[Story], rise: Rise,
                now: datetime) -> SpikeEvent:
    """An alert from the sequential test: the burst so far, since its first story."""
    burst = [s for s in recent if s.at >= rise.start]
    biggest = sorted(burst, key=lambda s: (-s.copies, s.at, s.id))
    return SpikeEvent(
        id=episode_id(watchlist, rise.start), watchlist=watchlist, generated_at=now,
        window=(now - rise.start).total_seconds(), count=rise.count, baseline=rise.expected,
        factor=rise.factor, started_at=rise.start, stories=tuple(s.id for s in recent),
        first=tuple(s.id for s in burst[:TOP_STORIES]),
        biggest=tuple(s.id for s in biggest[:TOP_STORIES]))


def burst_start(recent: Sequence[Story], rate: float, now: datetime, factor: float) -> datetime:
    """When the burst began: the change point of a Poisson rate going from `rate` (stories/h,
    the usual) to `factor` times it, i.e. the story from which the count up to now most
    exceeds (factor - 1) / ln(factor) times the usual rate, 2.2x for 4x. `recent` is oldest
    first; usual stories just before the burst are left out unless they are dense."""
    threshold = rate * (factor - 1) / math.log(factor)
    best, best_at = -math.inf, recent[0].at if recent else now
    n = len(recent)
    for i, s in enumerate(recent):
        score = (n - i) - threshold * max(0.0, (now - s.at).total_seconds()) / HOUR
        if score > best:
            best, best_at = score, s.at
    return best_at


def episode_id(watchlist: str, started_at: datetime) -> str:
    """Stable for an episode, so a retried delivery carries the same id."""
    raw = f"spike\x1f{watchlist}\x1f{started_at.astimezone(UTC).isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def check(state: SpikeState, history: History, stories: Iterable[Story], now: datetime,
          settings: SpikeSettings, watchlist: str, tz: tzinfo = UTC,
          lag: float = 0.0) -> tuple[SpikeState, SpikeEvent | None]:
    """learn_baseline + step, for a caller that does not cache baselines. `history.start`
    defaults to the state's `watching_since`."""
    if history.start is None:
        history = replace(history, start=state.watching_since or now)
    return step(state, learn_baseline(history, now, settings, tz), stories, now, settings,
                watchlist, lag)


# --- rendering -------------------------------------------------------------------------------

def format_window(seconds: float) -> str:
    """French: 7200 -> "2 h", 1800 -> "30 min", 5400 -> "1 h 30"."""
    minutes = int(round(seconds / 60))
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest:02d}"


def format_factor(factor: float) -> str:
    """Rounded half up to a whole number: "9×"."""
    return "∞×" if math.isinf(factor) else f"{int(math.floor(factor + 0.5))}×"


def subject(event: SpikeEvent, language: str = "fr") -> str:
    """`[veille] ALERTE nestle — 38 articles en 2 h (9× l'habituel)`; in English,
    `[veille] ALERT nestle — 38 articles in 2 h (9× the usual)`."""
    noun = "article" if event.count == 1 else "articles"
    if language == "en":
        return (f"[veille] ALERT {event.watchlist} — {event.count} {noun} in "
                f"{format_window(event.window)} ({format_factor(event.factor)} the usual)")
    return (f"[veille] ALERTE {event.watchlist} — {event.count} {noun} en "
            f"{format_window(event.window)} ({format_factor(event.factor)} l'habituel)")


def webhook_body(event: SpikeEvent, matches: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON a webhook receives; `matches` are the caller's article dicts (as in digests),
    in the order to show them. `window` is in seconds, `baseline` the expected count."""
    return {"id": event.id, "kind": "spike", "watchlist": event.watchlist,
            "generated_at": event.generated_at.isoformat(), "window": int(event.window),
            "count": event.count, "baseline": round(event.baseline, 2),
            "factor": round(event.factor, 1) if math.isfinite(event.factor) else None,
            "matches": [dict(m) for m in matches]}


# --- report: `veille watch spikes` -----------------------------------------------------------

@dataclass(frozen=True)
class Episode:
    started_at: datetime
    ended_at: datetime | None  # None: still going
    peak_count: int
    peak_factor: float
    baseline: float  # expected over the window at the peak


@dataclass(frozen=True)
class SpikeReport:
    """A watchlist now (window count, baseline, factor) and its episodes since `since`."""

    watchlist: str
    enabled: bool
    window: float
    count: int
    baseline: float
    factor: float
    mean_rate: float  # usual stories per hour over the week
    in_episode_since: datetime | None
    episodes: tuple[Episode, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        def when(t: datetime | None) -> str | None:
            return t.isoformat() if t else None
        return {"watchlist": self.watchlist, "enabled": self.enabled, "window": int(self.window),
                "count": self.count, "baseline": round(self.baseline, 2),
                "factor": round(self.factor, 1) if math.isfinite(self.factor) else None,
                "mean_rate": round(self.mean_rate, 3),
                "in_episode_since": when(self.in_episode_since),
                "episodes": [{"started_at": when(e.started_at), "ended_at": when(e.ended_at),
                              "peak_count": e.peak_count, "peak_factor": round(e.peak_factor, 1),
                              "baseline": round(e.baseline, 2)} for e in self.episodes]}


def spike_report(watchlist: str, state: SpikeState, history: History, stories: Iterable[Story],
                 now: datetime, since: datetime, settings: SpikeSettings,
                 tz: tzinfo = UTC, lag: float = 0.0) -> SpikeReport:
    """For `veille watch spikes --since 7d`: the current window and the past episodes.

    `history` must reach BASELINE_DAYS before `since`. Past episodes are replayed from the
    hourly counts (whole-hour windows, baseline relearnt daily), so their times are to the
    hour and may differ slightly from what the daemon alerted on; the current reading is the
    daemon's own."""
    if history.start is None:
        history = replace(history, start=state.watching_since)
    baseline = learn_baseline(history, now, settings, tz)
    _, reading = read_window(baseline, stories, now, settings, lag)
    episodes = past_episodes(history, since, now, settings, tz) if settings.enabled else []
    return SpikeReport(watchlist, settings.enabled, settings.window, reading.count,
                       reading.expected, reading.factor, baseline.mean_rate,
                       state.episode_start if settings.enabled else None, tuple(episodes))


def past_episodes(history: History, since: datetime, now: datetime, settings: SpikeSettings,
                  tz: tzinfo = UTC, relearn: int = 24) -> list[Episode]:
    """Episodes between `since` and `now`, replayed hour by hour on the hourly counts with
    the detector's rules: alert on `is_spike` or the sequential test (from hour starts), end
    after a window of `is_calm`. The baseline is relearnt every `relearn` hours (a report
    over months relearns weekly: a relearn costs milliseconds, and the baseline moves
    slowly)."""
    episodes: list[Episode] = []
    current: Episode | None = None
    calm = 0
    for at, reading, started in _hourly_readings(history, since, now, settings, tz, relearn):
        if current is None:
            if started is not None:
                current, calm = Episode(started, None, reading.count, reading.factor,
                                        reading.expected), 0
        elif not is_calm(reading, settings):
            calm = 0
            if reading.count > current.peak_count:
                current = replace(current, peak_count=reading.count, peak_factor=reading.factor,
                                  baseline=reading.expected)
        else:
            calm += 1
            if calm * HOUR >= settings.window:
                episodes.append(replace(current, ended_at=at - timedelta(hours=calm)))
                current = None
    return episodes + ([current] if current else [])


def _hourly_readings(history: History, since: datetime, now: datetime, settings: SpikeSettings,
                     tz: tzinfo, relearn: int = 24
                     ) -> Iterable[tuple[datetime, Reading, datetime | None]]:
    """(hour, window reading, burst start when the reading is a spike) at each hour from
    `since` to `now`; windows are whole hours, the baseline is relearnt daily."""
    counts = {_epoch_hour(k): c for k, c in history.hourly.items() if c > 0}
    hours = sorted(counts)
    width = max(1, math.ceil(settings.window / HOUR))
    hourly = replace(settings, window=float(width * HOUR))
    first = _epoch_hour(since) + 1
    baseline = learn_baseline(history, _from_epoch_hour(first), hourly, tz)
    for hour in range(first, _epoch_hour(now) + 1):
        at = _from_epoch_hour(hour)
        if hour > first and (hour - first) % relearn == 0:
            baseline = learn_baseline(history, at, hourly, tz)
        lo, hi = bisect_right(hours, hour - width - 1), bisect_right(hours, hour - 1)
        window = [(h, counts[h]) for h in hours[lo:hi]]
        count = sum(c for _, c in window)
        if count < hourly.min_count / 2:
            # under half the minimum excess: calm and no spike whatever the baseline, so its
            # expected count (most of a long replay's cost) is not worked out; 0 says so
            yield at, Reading(count, 0.0), None
            continue
        reading = Reading(count, baseline.expected(at - hourly.window_delta, at))
        if not baseline.ready:
            yield at, reading, None
        elif is_spike(reading, hourly):
            yield at, reading, _hourly_start(window, hour, reading, hourly)
        else:
            yield at, reading, _hourly_rise(window, baseline, at, hourly)


def _hourly_rise(window: Sequence[tuple[int, int]], baseline: Baseline, at: datetime,
                 settings: SpikeSettings) -> datetime | None:
    """The sequential test (`strongest_rise`) on whole hours: its start, or None."""
    first = _epoch_hour(at) - round(settings.window / HOUR)
    if sum(c for h, c in window if h > first) < settings.min_count:
        return None  # a rise shorter than the window needs `min` stories after its first hour
    starts = [_from_epoch_hour(h) for h, c in window for _ in range(c)]
    rise = strongest_rise(starts, baseline, at, settings.factor, settings.min_count)
    return rise.start if rise else None


def _hourly_start(window: Sequence[tuple[int, int]], end: int, reading: Reading,
                  settings: SpikeSettings) -> datetime:
    """`burst_start` on the window's hourly counts (hours before `end`, zero hours left out):
    the hour from which the excess is largest."""
    threshold = reading.expected / (settings.window / HOUR)
    threshold *= (settings.factor - 1) / math.log(settings.factor)
    best, best_hour, total = -math.inf, window[-1][0], 0.0
    for hour, c in reversed(window):
        total += c
        score = total - threshold * (end - hour)
        if score > best:
            best, best_hour = score, hour
    return _from_epoch_hour(best_hour)
