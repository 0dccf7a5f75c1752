"""The edge of feed health: assess every feed from the store (health.py decides), and queue
one alert when a feed enters a state (broken, stale, gone, moved, not a feed) and one when it
recovers, to the `[health]` channels; plus the weekly summary. The alert and the memory of
having sent it are written in one transaction: never lost, never twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import health, health_en
from .config import HealthSettings
from .health import assess_all, build_summary, transition
from .models import Notice
from .notices import NoticeBox
from .store import Store

#: meta key set once the current states have been recorded (silently) a first time
STARTED = "health_watch_started"


@dataclass
class HealthWatch:
    store: Store
    notices: NoticeBox
    settings: HealthSettings
    clock: Callable[[], datetime]
    timezone: str = "UTC"
    language: str = "fr"  # what alerts speak: health.py's French, or health_en.py's English

    @property
    def _texts(self) -> Any:
        return health_en if self.language == "en" else health

    def check(self) -> list[Notice]:
        """Alerts for the transitions since the last check. The very first check only records
        what it finds: a new install must not open with one alert per feed already broken
        (`veille feeds doctor` and the weekly summary list them)."""
        now = self.clock()
        first = self.store.get_meta(STARTED) is None
        records = self.store.health_states()
        assessments = assess_all(self.store.feeds(), self.store.entry_histories(), records, now,
                                 self.settings)
        sent = []
        for a in assessments:
            event = transition(records.get(a.feed_url), a)
            if event is None:
                continue
            with self.store.transaction():
                self.store.set_health_state(a.feed_url, a.state, a.since, now, a.advertised)
                if not first:
                    notice = Notice(**vars(self._texts.event_message(event, self.timezone)))
                    self.notices.queue(notice, self.settings.targets)
                    sent.append(notice)
        if first:
            self.store.set_meta(STARTED, now.isoformat())
        return sent

    def weekly_summary(self) -> Notice | None:
        now = self.clock()
        records = self.store.health_states()
        summary = build_summary(assess_all(self.store.feeds(), self.store.entry_histories(),
                                           records, now, self.settings), now)
        if summary.empty:
            return None
        notice = Notice(**vars(self._texts.summary_message(summary, self.timezone)))
        with self.store.transaction():
            self.notices.queue(notice, self.settings.targets)
        return notice
