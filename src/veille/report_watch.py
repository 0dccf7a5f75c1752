"""The report on a schedule (`[report] schedule = "weekly mon 08:00"`): when the next one is
due (a pure decision, given the last run and `now`), and sending it through the notice queue,
so that a report is written before its first attempt, retried with backoff and never lost.

The daemon asks `plan()` for the next run time and calls `send()` then; a slot missed while
the daemon was down runs once at start, as digests' do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .config import ReportSettings, Settings
from .cron import parse_schedule
from .models import Notice
from .notices import NoticeBox
from .schedule import next_digest
from .store import Store, from_iso, iso
from .watchlists import Watchlist

LAST = "report_last"
NEXT = "report_next"


def next_report(settings: ReportSettings, last_run: datetime | None, now: datetime,
                tz: ZoneInfo) -> datetime | None:
    """When the scheduled report goes out next: None without a schedule; `now` for a slot
    missed since `last_run` (once, however many were missed)."""
    if settings.schedule is None:
        return None
    return next_digest(parse_schedule(settings.schedule), last_run, now, tz)


def report_watchlists(settings: ReportSettings, watchlists: Sequence[Watchlist]
                      ) -> list[Watchlist]:
    """The enabled watchlists, or those `[report] watchlists` names, in the file's order."""
    wanted = settings.watchlists
    return [w for w in watchlists if w.enabled and (not wanted or w.name in wanted)]


@dataclass
class ReportWatch:
    store: Store
    notices: NoticeBox
    settings: Settings
    clock: Callable[[], datetime]

    def plan(self) -> datetime | None:
        """The next run, remembered in meta for `status`; the first time, slots count from
        now (a new schedule does not send at once)."""
        now = self.clock()
        last = from_iso(self.store.get_meta(LAST))
        when = next_report(self.settings.report, last, now, self.settings.tz)
        if when is not None:
            if last is None:
                self.store.set_meta(LAST, iso(now))
            self.store.set_meta(NEXT, iso(when))
        return when

    def send(self, watchlists: Sequence[Watchlist]) -> Notice:
        """Build the report of the period just ended and queue it for the report channels,
        with the memory of having done so, in one transaction."""
        from .report import build_report, report_notice  # vl-convert: loaded when used

        now = self.clock()
        since = now - timedelta(seconds=self.settings.report.since)
        report = build_report(self.store, report_watchlists(self.settings.report, watchlists),
                              self.settings, since, now)
        notice = report_notice(report)
        with self.store.transaction():
            self.notices.queue(notice, self.settings.report.targets)
            self.store.set_meta(LAST, iso(now))
        return notice
