"""The daemon's upkeep: the per-minute summary line, watchdog pings, /healthz, retention and
vacuum, and the STATUS= line for systemd. A mixin of `Daemon` (daemon.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .metrics import MetricsServer, daemon_health
from .store import from_iso

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from .activity import Activity
    from .app import App
    from .daemon import Loaded
    from .metrics import Metrics
    from .models import FeedState
    from .notify import Notifier
    from .poller import Poller
    from .watchdog import Watchdog

log = logging.getLogger("veille")


class Upkeep:
    app: App
    loaded: Loaded
    clock: Callable[[], datetime]
    scheduler: AsyncIOScheduler | None
    stopping: asyncio.Event
    activity: Activity
    notifier: Notifier
    watchdog: Watchdog
    poller: Poller
    metrics: Metrics
    metrics_server: MetricsServer | None
    last_beat: float

    def _summary(self) -> None:
        if line := self.activity.flush():
            log.info("%s", line)

    async def _index_search(self) -> None:
        """Off the event loop: a first poll of thousands of feeds leaves a backlog of seconds."""
        await asyncio.to_thread(self.app.store.index_pending)

    async def _ping_watchdog(self, every: float) -> None:
        """Outside the scheduler on purpose: a scheduler that stops firing jobs stops the
        heartbeat, and then these pings stop too (see watchdog.py)."""
        while not self.stopping.is_set():
            try:
                self.app.store.db.execute("SELECT count(*) FROM meta").fetchone()
                answers = True
            except Exception as e:
                log.error("watchdog: the database does not answer: %s", e)
                answers = False
            if self.watchdog.should_ping(answers, self.poller.oldest_in_flight()):
                self.notifier.send("WATCHDOG=1")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), every)

    def _health(self) -> str | None:
        """Why /healthz answers 503 (None: it answers 200). Called from the metrics thread."""
        running = self.scheduler is not None and self.scheduler.running
        return daemon_health(self.stopping.is_set(), running,
                             time.monotonic() - self.last_beat, self.app.store)

    def _start_metrics(self) -> None:
        listen = self.loaded.settings.metrics.listen
        if listen is not None:
            self.metrics_server = MetricsServer(listen, self.metrics, self._health)
            self.metrics_server.start()
            log.info("metrics on %s/metrics, health on %s/healthz", self.metrics_server.url,
                     self.metrics_server.url)

    def _housekeeping(self) -> None:
        cutoff = self.clock() - timedelta(seconds=self.loaded.settings.digest.retention)
        deleted = self.app.store.prune(cutoff)
        self.app.store.optimize()
        if deleted:
            log.info("housekeeping: deleted %d unmatched entries older than %s", deleted,
                     cutoff.date())
        done = self.app.store.reclaim()
        if done.converted:
            log.info("housekeeping: database converted to incremental auto-vacuum, %d bytes "
                     "given back", done.freed_bytes)
        elif done.skipped:
            log.warning("housekeeping: database not converted to incremental auto-vacuum: %s",
                        done.skipped)

    def _status(self, feeds: list[FeedState] | None = None) -> None:
        """systemd's STATUS line, after every batch of polls: counted in SQL, not by reading
        every feed's state (that read was half the daemon's CPU with 10,000 feeds)."""
        if feeds is None:
            total, failing = self.app.store.feed_counts()
        else:
            total, failing = len(feeds), sum(1 for f in feeds if f.failures and not f.gone)
        nexts = [from_iso(self.app.store.get_meta(f"digest_next:{w.name}"))
                 for w in self.loaded.watchlists]
        upcoming = min((n for n in nexts if n), default=None)
        text = f"{total} feeds, {failing} failing"
        if upcoming:
            text += f", next digest {upcoming.astimezone(self.loaded.settings.tz):%H:%M}"
        self.notifier.send(f"STATUS={text}")
