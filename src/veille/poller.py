"""Polls each feed when it falls due, whatever the other feeds are doing.

There is no pass barrier: a tick starts every due feed that is not already in flight, and
schedules the next tick at the earliest due time of the others. A feed that takes 25 s to
answer holds only itself; feeds falling due meanwhile are started by later ticks.

    tick:  due = feeds due now and not in flight  ->  one batch task for them
           next tick at the earliest due time still to come
    feed done: out of flight; if its next due time is earlier than the next tick, tick then
    batch done: one summary line (at DEBUG: the daemon's summary is per minute)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .models import FeedOutcome, FeedState, PassSummary

log = logging.getLogger("veille")

MIN_GAP = timedelta(seconds=1)

RunBatch = Callable[[list[FeedState], Callable[[FeedOutcome], None]], Awaitable[PassSummary]]


@dataclass
class InFlight:
    url: str
    started: float  # monotonic


@dataclass
class Poller:
    """`due(now)` reads the feeds due at `now`, `upcoming(now)` the earliest due time after
    `now`, `feed_due(url)` one feed's: each tick reads those few feeds, not every feed's
    state (a daemon watching 10,000 feeds ticks up to once a second).
    `run_batch(feeds, on_done)` polls feeds (the pipeline); `schedule_tick(when)` asks the
    scheduler to call `tick()` at `when`; `on_feed(outcome)` hears every finished feed."""

    due: Callable[[datetime], list[FeedState]]
    upcoming: Callable[[datetime], datetime | None]
    feed_due: Callable[[str], datetime | None]
    run_batch: RunBatch
    schedule_tick: Callable[[datetime], None]
    on_feed: Callable[[FeedOutcome], None]
    on_batch: Callable[[PassSummary], None]
    clock: Callable[[], datetime]
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    batches: set[asyncio.Task[None]] = field(default_factory=set)
    next_tick: datetime | None = None
    stopped: bool = False

    def tick(self) -> int:
        """Start the due feeds; returns how many were started."""
        if self.stopped:
            return 0
        now = self.clock()
        due = [f for f in self.due(now) if f.url not in self.in_flight]
        if due:
            started = time.monotonic()
            for f in due:
                self.in_flight[f.url] = InFlight(f.url, started)
            task = asyncio.get_running_loop().create_task(self._batch(due))
            self.batches.add(task)
            task.add_done_callback(self.batches.discard)
        self._plan(now)
        return len(due)

    def _plan(self, now: datetime) -> None:
        """The next tick, at the earliest due time to come. (Feeds in flight were due, so
        their stored due time is past: each sets its own next tick when it is done.)"""
        upcoming = self.upcoming(now)
        if upcoming is None:
            self.next_tick = None
            return
        # ticks at most every MIN_GAP: 10,000 feeds spread over 30 minutes would otherwise
        # mean a tick every 0.18 s
        when = max(upcoming, now + MIN_GAP)
        self.next_tick = when
        self.schedule_tick(when)

    async def _batch(self, feeds: list[FeedState]) -> None:
        try:
            summary = await self.run_batch(feeds, self._done)
        finally:
            for f in feeds:  # whatever happened, none of them stays in flight for ever
                self.in_flight.pop(f.url, None)
        self.on_batch(summary)

    def _done(self, outcome: FeedOutcome) -> None:
        self.in_flight.pop(outcome.url, None)
        self.on_feed(outcome)
        if self.stopped:
            return
        next_due = self.feed_due(outcome.url)
        if next_due is None:  # gone, or no longer in the OPML
            return
        if self.next_tick is None or next_due < self.next_tick:
            self.next_tick = max(next_due, self.clock() + MIN_GAP)
            self.schedule_tick(self.next_tick)

    def oldest_in_flight(self) -> float | None:
        """Seconds the longest-running poll has been going (the watchdog's stall test)."""
        if not self.in_flight:
            return None
        return time.monotonic() - min(f.started for f in self.in_flight.values())
