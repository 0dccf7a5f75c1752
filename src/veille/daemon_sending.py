"""The daemon's sending jobs: digests at each watchlist's slot, the scheduled report, and the
one log line (and metric) per delivery or alert. A mixin of `Daemon` (daemon.py), kept apart
so that the life cycle there stays readable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .cron import parse_schedule
from .schedule import next_digest
from .store import from_iso, iso

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from .app import App
    from .daemon import Loaded
    from .dispatch import Dispatcher
    from .metrics import Metrics
    from .notices import NoticeOutcome
    from .outbox import Outbox
    from .report_watch import ReportWatch

log = logging.getLogger("veille")


class SendingJobs:
    app: App
    loaded: Loaded
    clock: Callable[[], datetime]
    scheduler: AsyncIOScheduler | None
    outbox: Outbox | None
    dispatcher: Dispatcher
    metrics: Metrics
    report_watch: ReportWatch | None

    def _add(self, func: Callable[[], Any], trigger: str, job_id: str, **kwargs: Any) -> None:
        raise NotImplementedError  # Daemon's

    def _instant_watchlists(self) -> list[str]:
        return [w.name for w in self.loaded.watchlists
                if w.enabled and parse_schedule(w.schedule).instant]

    def _log_deliveries(self, outcomes: list[Any]) -> None:
        for o in outcomes:
            self.metrics.delivered(o.channel, o.ok)
            if o.ok:
                log.info("delivered %d matches of %s to %s: %s", o.matches, o.watchlist,
                         o.channel, o.detail)
            else:
                log.error("delivery of %s to %s failed (will retry): %s", o.watchlist,
                          o.channel, o.detail)

    def _log_notices(self, outcomes: list[NoticeOutcome]) -> None:
        for o in outcomes:
            self.metrics.alert_sent(o.kind, o.channel, o.ok)
            if o.ok:
                log.info("sent %s alert %s to %s: %s", o.kind, o.notice_id, o.channel, o.detail)
            else:
                log.error("%s alert %s to %s failed (will retry): %s", o.kind, o.notice_id,
                          o.channel, o.detail)

    def _schedule_digests(self) -> None:
        assert self.scheduler is not None
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()
        now = self.clock()
        tz = self.loaded.settings.tz
        for w in self.loaded.watchlists:
            if not w.enabled:
                continue
            last = from_iso(self.app.store.get_meta(f"digest_last:{w.name}"))
            when = next_digest(parse_schedule(w.schedule), last, now, tz)
            if when is None:
                continue
            if last is None:  # remember from when this watchlist's slots count
                self.app.store.set_meta(f"digest_last:{w.name}", iso(now))
            self.app.store.set_meta(f"digest_next:{w.name}", iso(when))
            self._add(self._digest_job(w.name), "date", f"digest:{w.name}", run_date=when)

    def _digest_job(self, name: str) -> Callable[[], Any]:
        async def digest() -> None:
            outcomes = []
            if self.outbox is not None:
                outcomes = await self.outbox.deliver([name], due_only=True)
            # the next slot is stored before the line saying this one went out: whoever reads
            # `status` on seeing that line finds the next slot, not the one just served
            self.app.store.set_meta(f"digest_last:{name}", iso(self.clock()))
            self._schedule_digests()
            self._log_deliveries(outcomes)
        digest.__name__ = f"digest:{name}"
        return digest

    def _schedule_report(self) -> None:
        assert self.scheduler is not None and self.report_watch is not None
        when = self.report_watch.plan()
        if when is not None:
            self._add(self._send_report, "date", "report", run_date=when)
        elif self.scheduler.get_job("report"):
            self.scheduler.remove_job("report")

    async def _send_report(self) -> None:
        watch = self.report_watch
        if watch is not None:
            notice = await asyncio.to_thread(watch.send, self.loaded.watchlists)  # seconds
            log.info("report %s queued for %s", notice.id,
                     ", ".join(self.loaded.settings.report.targets))
            self.dispatcher.wake(self.loaded.settings.report.targets)
        self._schedule_report()

    def _retry(self) -> None:
        self.dispatcher.wake()
