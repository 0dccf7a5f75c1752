"""Mention spikes, the model: settings, the stories counted, and the usual rate by hour of
the week that a window is compared with (`learn_baseline`). Pure: no I/O, no clock.
The detector, its texts and its report are in spikes.py."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from operator import mul
from typing import Any

from .units import format_duration, parse_duration

HOUR = 3600
WEEK_HOURS = 168
BASELINE_DAYS = 28
WARMUP_HOURS = 24.0
FLOOR_RATE = 1 / 48  # stories per hour: one every two days
PROFILE_PSEUDO = 4.0  # stories added to each profile cell at the flat rate (shrinkage)
CLIP_SD = 3.0
CLIP_ROUNDS = 2
UNCERTAINTY_Z = 0.5
TOP_STORIES = 5

# --- settings --------------------------------------------------------------------------------

_SPIKE_KEYS = ("factor", "min", "window")
MIN_WINDOW = 5 * 60.0
MAX_WINDOW = 24 * 3600.0


@dataclass(frozen=True)
class SpikeSettings:
    """`spike = { factor = 4, min = 5, window = "2h" }` of a watchlist; `spike = false` is
    `enabled=False`. `min_count` is the TOML `min`: the window must hold `factor` times the
    baseline and `min` stories more than it, so a list that usually gets 0.4 stories in a
    window alerts from 6 (not at 2, which is already 5x), one that gets 10 from 40."""

    enabled: bool = True
    factor: float = 4.0
    min_count: int = 5
    window: float = 2 * 3600.0  # seconds

    @property
    def window_delta(self) -> timedelta:
        return timedelta(seconds=self.window)


def parse_spike_settings(value: Any) -> SpikeSettings:
    """The TOML `spike` value: absent (None) or true for the defaults, false to turn spikes
    off, or a table of any of factor, min, window. Raises ValueError naming the bad key."""
    if value is None or value is True:
        return SpikeSettings()
    if value is False:
        return SpikeSettings(enabled=False)
    if not isinstance(value, Mapping):
        raise ValueError(f"spike: expected a table like {{ factor = 4, min = 5, window = \"2h\" }} "
                         f"or false, got {value!r}")
    for key in value:
        if key not in _SPIKE_KEYS:
            close = difflib.get_close_matches(str(key), _SPIKE_KEYS, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise ValueError(f"spike: unknown key {key!r}{hint}; expected factor, min, window")
    defaults = SpikeSettings()
    return SpikeSettings(
        factor=_parse_factor(value.get("factor", defaults.factor)),
        min_count=_parse_min(value.get("min", defaults.min_count)),
        window=_parse_window(value.get("window", defaults.window)))


def _parse_factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"spike.factor: expected a number like 4, got {value!r}")
    if value <= 1:
        raise ValueError(f"spike.factor: must be above 1 (times the usual rate), got {value!r}")
    return float(value)


def _parse_min(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"spike.min: expected a whole number of stories like 5, got {value!r}")
    if value < 1:
        raise ValueError(f"spike.min: must be at least 1, got {value!r}")
    return value


def _parse_window(value: Any) -> float:
    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError):
        raise ValueError(f'spike.window: expected a duration like "2h" or "90m", '
                         f"got {value!r}") from None
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:
        raise ValueError(f"spike.window: must be between {format_duration(MIN_WINDOW)} and "
                         f"{format_duration(MAX_WINDOW)}, got {value!r}")
    return seconds


# --- input -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Story:
    """One story of a watchlist: `at` is its first copy's date (published, else first seen),
    `copies` how many matched entries carry it (the same article in several feeds)."""

    id: str
    at: datetime
    copies: int = 1


@dataclass(frozen=True)
class History:
    """Distinct stories per UTC hour (`hourly[hour_start]`), zero hours optional.

    `start`: since when the record is complete, so that the quiet hours before the first
    story count as quiet rather than unknown: a watchlist that never matched in three weeks
    then gets 8 stories is a spike. Pass `SpikeState.watching_since` (the first step). The
    record begins at the earlier of `start` and the oldest hour in `hourly` (archives)."""

    hourly: Mapping[datetime, int]
    start: datetime | None = None


def stories_from_events(events: Iterable[tuple[datetime, str]]) -> list[Story]:
    """(time, story id) per matched entry -> one Story per id, dated by its first copy,
    oldest first. For callers that read raw rows rather than GROUP BY story."""
    first: dict[str, datetime] = {}
    copies: dict[str, int] = {}
    for at, story in events:
        if story not in first or at < first[story]:
            first[story] = at
        copies[story] = copies.get(story, 0) + 1
    return sorted((Story(s, first[s], copies[s]) for s in first), key=lambda s: (s.at, s.id))


def hourly_counts(stories: Iterable[Story]) -> dict[datetime, int]:
    """Stories per UTC hour start: what the store's GROUP BY returns, for tests and replays."""
    out: dict[datetime, int] = {}
    for s in stories:
        hour = _from_epoch_hour(_epoch_hour(s.at))
        out[hour] = out.get(hour, 0) + 1
    return out


# --- baseline --------------------------------------------------------------------------------

_EPOCH_DAY = datetime(1970, 1, 1).toordinal()


def _epoch_hour(when: datetime) -> int:
    return int(when.timestamp() // HOUR)


def _from_epoch_hour(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * HOUR, UTC)


_WEEK_HOURS_BY_ZONE: dict[tzinfo, dict[int, int]] = {}


def _week_hours(tz: tzinfo) -> dict[int, int]:
    """Memo of epoch hour -> hour of week for a zone: the learner looks up ~700 hours per
    watchlist, and a dict lookup is what its inner loop can afford."""
    table = _WEEK_HOURS_BY_ZONE.get(tz)
    if table is None or len(table) > 100_000:
        table = _WEEK_HOURS_BY_ZONE[tz] = {}
    return table


def _hour_of_week(epoch_hour: int, tz: tzinfo) -> int:
    """0 = Monday 0h local. The hour's middle is used so that half-hour zones fall on one."""
    table = _week_hours(tz)
    how = table.get(epoch_hour)
    if how is None:
        local = datetime.fromtimestamp(epoch_hour * HOUR + HOUR // 2, tz)
        how = table[epoch_hour] = local.weekday() * 24 + local.hour
    return how


_EXPOSURES: dict[tuple[int, int, tzinfo], tuple[int, ...]] = {}


def _exposure(first: int, end: int, tz: tzinfo) -> tuple[int, ...]:
    """Hours of [first, end) per hour of the week. Memoized: every watchlist with that span
    shares it, and the next hour's span is this one slid (or grown) by an hour."""
    key = (first, end, tz)
    out = _EXPOSURES.get(key)
    if out is not None:
        return out
    slid, grown = _EXPOSURES.get((first - 1, end - 1, tz)), _EXPOSURES.get((first, end - 1, tz))
    if slid is not None or grown is not None:
        counts = list(slid or grown or ())
        if slid is not None:
            counts[_hour_of_week(first - 1, tz)] -= 1
        counts[_hour_of_week(end - 1, tz)] += 1
    else:
        counts = [0] * WEEK_HOURS
        for hour in range(first, end):
            counts[_hour_of_week(hour, tz)] += 1
    if len(_EXPOSURES) > 512:
        _EXPOSURES.clear()
    out = _EXPOSURES[key] = tuple(counts)
    return out


@dataclass(frozen=True)
class Baseline:
    """Expected stories per hour for each hour of the week (Monday 0h local first)."""

    rates: tuple[float, ...]
    hours: int  # hours of record it was learnt from
    tz: tzinfo = UTC

    @property
    def ready(self) -> bool:
        """Too short a record says nothing of the usual rate: no alert before the warm-up."""
        return self.hours >= WARMUP_HOURS

    @property
    def mean_rate(self) -> float:
        return sum(self.rates) / WEEK_HOURS

    def rate_at(self, when: datetime) -> float:
        return self.rates[_hour_of_week(_epoch_hour(when), self.tz)]

    def expected(self, start: datetime, end: datetime) -> float:
        """Stories expected in [start, end): each hour's rate times the part of it covered."""
        t0, t1 = start.timestamp(), end.timestamp()
        total, hour = 0.0, int(t0 // HOUR)
        while hour * HOUR < t1:
            covered = min(t1, (hour + 1) * HOUR) - max(t0, hour * HOUR)
            total += self.rates[_hour_of_week(hour, self.tz)] * covered / HOUR
            hour += 1
        return total


def learn_baseline(history: History, now: datetime, settings: SpikeSettings,
                   tz: tzinfo = UTC) -> Baseline:
    """The baseline from the complete hours before the window, over the last BASELINE_DAYS.

    The window itself is left out so that a burst does not raise its own bar. Cheap enough
    to call every step; a daemon may also keep it an hour (the window then overlaps it by at
    most that hour)."""
    end = _epoch_hour(now - settings.window_delta)
    first = _record_start(history)
    if first is None or first >= end:
        return Baseline((FLOOR_RATE,) * WEEK_HOURS, 0, tz)
    first = max(first, end - BASELINE_DAYS * 24)
    cells, raw = _cells(history.hourly, first, end, tz)
    exposure = _exposure(first, end, tz)
    totals, rates = raw, _fit(raw, exposure)
    for _ in range(CLIP_ROUNDS):
        clipped = _clipped(cells, raw, rates)
        if clipped == totals:
            break
        totals, rates = clipped, _fit(clipped, exposure)
    rates = [r * m for r, m in zip(rates, _margins(totals), strict=True)]
    return Baseline(tuple(max(r, FLOOR_RATE) for r in rates), end - first, tz)


def _record_start(history: History) -> int | None:
    """The first hour of the record: `start`, or the oldest hour given if older (archives)."""
    candidates = [t for t in (min(history.hourly, default=None), history.start) if t is not None]
    return _epoch_hour(min(candidates)) if candidates else None


def _cells(hourly: Mapping[datetime, int], first: int, end: int,
           tz: tzinfo) -> tuple[list[list[int]], list[float]]:
    """The counts of the hours in [first, end) by hour of the week, and their totals. The
    one pass over every hour of the history: UTC keys skip datetime arithmetic."""
    counted = [(w, c) for w, c in hourly.items() if c > 0]
    if all(w.tzinfo is UTC for w, _ in counted):
        hours = [(w.toordinal() - _EPOCH_DAY) * 24 + w.hour for w, _ in counted]
    else:
        hours = [_epoch_hour(w) for w, _ in counted]
    cells: list[list[int]] = [[] for _ in range(WEEK_HOURS)]
    totals = [0.0] * WEEK_HOURS
    table = _week_hours(tz)
    for hour, (_, c) in zip(hours, counted, strict=True):
        if first <= hour < end:
            how = table.get(hour)
            if how is None:
                how = _hour_of_week(hour, tz)
            cells[how].append(c)
            totals[how] += c
    return cells, totals


def _clipped(cells: Sequence[Sequence[int]], totals: Sequence[float],
             rates: Sequence[float]) -> list[float]:
    """Each cell's total with its hours capped where a Poisson of the fitted rate would be
    above one chance in ~1,000 (mean + 3 sd + 1)."""
    out = list(totals)
    for k, rate in enumerate(rates):
        cap = rate + CLIP_SD * math.sqrt(rate) + 1
        if totals[k] > cap and max(cells[k]) > cap:
            out[k] = sum(min(c, cap) for c in cells[k])
    return out


def _fit(cells: Sequence[float], exposure: Sequence[int]) -> list[float]:
    """Poisson rates per hour of week = level x hour-of-day x day-of-week factors."""
    seen = [cells[d * 24:(d + 1) * 24] for d in range(7)]
    hours = [exposure[d * 24:(d + 1) * 24] for d in range(7)]
    level = sum(cells) / sum(exposure)
    hod = _hour_profile(seen, hours, level, [1.0] * 7)
    day = _day_profile(seen, hours, level, hod)
    return [level * f * h for f in day for h in hod]


def _margins(cells: Sequence[float]) -> list[float]:
    """1 + UNCERTAINTY_Z relative standard errors of each hour of week's fitted rate, from
    the stories behind its level, its hour of the day (3 smoothed hours) and its weekday."""
    seen = [cells[d * 24:(d + 1) * 24] for d in range(7)]
    total = sum(cells) + PROFILE_PSEUDO
    by_hour = _smooth([sum(col) for col in zip(*seen, strict=True)])
    hour_var = [1 / (o * 8 / 3 + PROFILE_PSEUDO) for o in by_hour]
    day_var = [1 / (sum(row) + PROFILE_PSEUDO) for row in seen]
    return [1 + UNCERTAINTY_Z * math.sqrt(1 / total + dv + hv)
            for dv in day_var for hv in hour_var]


def _hour_profile(seen: Sequence[Sequence[float]], hours: Sequence[Sequence[int]], level: float,
                  day: Sequence[float]) -> list[float]:
    """Observed / expected per hour of the day, smoothed over the neighbouring hours (news
    rhythms are smooth) and shrunk toward flat, then rescaled so the total is kept."""
    weight = [sum(map(mul, col, day)) for col in zip(*hours, strict=True)]
    observed = _smooth([sum(col) for col in zip(*seen, strict=True)])
    expected = _smooth([level * w for w in weight])
    raw = [(o + PROFILE_PSEUDO) / (e + PROFILE_PSEUDO) if e > 0 else 1.0
           for o, e in zip(observed, expected, strict=True)]
    return _rescale(raw, weight)


def _day_profile(seen: Sequence[Sequence[float]], hours: Sequence[Sequence[int]], level: float,
                 hod: Sequence[float]) -> list[float]:
    weight = [sum(map(mul, row, hod)) for row in hours]
    raw = [(sum(row) + PROFILE_PSEUDO) / (level * w + PROFILE_PSEUDO) if w > 0 else 1.0
           for row, w in zip(seen, weight, strict=True)]
    return _rescale(raw, weight)


def _smooth(values: Sequence[float]) -> list[float]:
    n = len(values)
    return [(values[i - 1] + 2 * values[i] + values[(i + 1) % n]) / 4 for i in range(n)]


def _rescale(factors: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Factors whose weighted mean is 1: the profile moves stories around, the level counts."""
    total = sum(weights)
    mean = sum(f * w for f, w in zip(factors, weights, strict=True)) / total if total else 1.0
    return [f / mean for f in factors] if mean > 0 else [1.0] * len(factors)


