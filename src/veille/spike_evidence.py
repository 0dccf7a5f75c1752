"""Mention spikes, the sequential test: evidence that a burst began, accumulated over the
stories since it began instead of read from one window. Pure: no I/O, no clock.

Why: the window rule (`spikes.is_spike`: the last `window` holds `factor` times the usual and
`min` more) reads one noisy count. A 5x burst at a story an hour holds ~15 stories in a 2 h
window where the rule wants 12 or 13 once the newest minutes are discounted (feeds are
polled), and Poisson noise keeps many under it: in bench/eval_spikes.py (seed 1) more than
half were still unflagged 30 min after the window filled.

The test is a window-limited Poisson CUSUM (Page 1954; Lai 1995 for the window-limited
form): for each possible start `s` of a burst within the window, the log-likelihood ratio
of the stories since `s` under "`factor` times the usual rate" against "the usual rate",

    evidence(s) = n(s) * ln(factor) - expected(s) * (factor - 1)    (nats)

with `n(s)` the stories since `s` and `expected(s)` the baseline's count since `s` (the
newest `lag` seconds at half weight, as for the window). The CUSUM statistic is the largest
of these; it grows by about `expected * (r ln factor - factor + 1)` per unit of usual rate
during an r-times burst (5x, factor 4: +3.9 nats per story usually expected) and drifts
down otherwise. An alert needs one start `s` where all three hold:

* `evidence(s) >= needed_nats(rate)`: the burst is `factor`x rather than usual at odds of
  e^EVIDENCE_NATS (1100) to one, times the usual stories an hour over the segment when
  above one. A Poisson CUSUM's false alarms per hour grow about in proportion to the usual
  rate (its average run length is about e^h / (rate x (factor - 1 - ln factor)) hours,
  Siegmund's approximation), so the threshold grows with ln(rate) to keep them per month
  about level from 1 to 10 stories an hour; under one an hour the user's `min` decides.
  bench/eval_spikes.py measures them (seeds 1 to 3, 0.2 to 5 an hour, with the window
  rule's): 0 to 0.85 per watchlist-month on quiet series, up to 1.01 on burst series;
* `n(s) >= factor * expected(s)`: the user's factor, over the burst so far;
* `n(s) - expected(s) >= min`: the user's minimum, over the burst so far.

So the alert can come before the window is full of the burst, and says what it saw: the
count since `s`, its usual count and their ratio, over the time since `s` (`Rise`). Starts
are taken at each story of the window (the count is highest just at a story), and the
segment is limited to the window so that the test needs no memory: the same stories and
baseline give the same answer after a daemon restart. Once per episode and re-arming stay
the detector's (spikes.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

HOUR = 3600.0

#: Nats of evidence for `factor` x over the usual at one usual story an hour or less (e^7 ~
#: 1100 to one), plus ln(rate) above: chosen with bench/eval_spikes.py (seed 1: 8 flat
#: missed more 5x bursts at 1 an hour, 6 flat had 2 to 8 times the false alarms at 1 and 5
#: an hour), checked with seeds 2 and 3.
EVIDENCE_NATS = 7.0


class Expected(Protocol):
    """The baseline as this module needs it: stories expected in [start, end)."""

    def expected(self, start: datetime, end: datetime) -> float: ...


@dataclass(frozen=True)
class Rise:
    """The stories since `start` (a story's date, at most a window ago): `count` of them,
    `expected` usually, `evidence` nats for `factor` x over the usual."""

    start: datetime
    count: int
    expected: float
    evidence: float

    @property
    def factor(self) -> float:
        return self.count / self.expected if self.expected > 0 else math.inf


def log_likelihood_ratio(count: int, expected: float, factor: float) -> float:
    """ln P(count | factor x expected) / P(count | expected), Poisson."""
    return count * math.log(factor) - expected * (factor - 1)


def expected_since(baseline: Expected, start: datetime, now: datetime, lag: float) -> float:
    """Usual stories in [start, now), the newest `lag` seconds at half weight (a story
    published then is seen only if its feed was polled since: see `spikes.read_window`)."""
    if start >= now:
        return 0.0
    unseen = max(start, now - timedelta(seconds=max(lag, 0.0)))
    return baseline.expected(start, now) - baseline.expected(unseen, now) / 2


def needed_nats(rate: float, nats: float = EVIDENCE_NATS) -> float:
    """The evidence an alert needs where `rate` stories an hour are usual."""
    return nats + math.log(max(rate, 1.0))


def strongest_rise(starts: Sequence[datetime], baseline: Expected, now: datetime,
                   factor: float, min_count: int, lag: float = 0.0,
                   nats: float = EVIDENCE_NATS) -> Rise | None:
    """The rise with the most evidence among those that meet `factor`, `min_count` and
    `needed_nats`, or None. `starts`: the window's stories' dates, oldest first (one per
    story); a rise from the i-th counts the stories from it on."""
    best: Rise | None = None
    n = len(starts)
    for i, start in enumerate(starts):
        count = n - i
        if count < min_count:
            break  # fewer stories from here on: none of the later starts can pass
        if i and start == starts[i - 1]:
            continue  # same start, fewer stories
        if start >= now:
            break  # dated ahead of the clock, as are the later ones
        usual = baseline.expected(start, now)
        expected = usual - (baseline.expected(max(start, now - timedelta(seconds=lag)), now) / 2
                            if lag > 0 else 0.0)  # as expected_since, in one pass less
        if count < factor * expected or count - expected < min_count:
            continue
        evidence = log_likelihood_ratio(count, expected, factor)
        rate = usual / ((now - start).total_seconds() / HOUR)
        if evidence >= needed_nats(rate, nats) and (best is None or evidence > best.evidence):
            best = Rise(start, count, expected, evidence)
    return best
