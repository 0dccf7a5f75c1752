"""The edge of mention spikes: read each watchlist's stories from the store, run the pure
detector (spikes.py), and queue an alert through the watchlist's channels when an episode
begins, in the same transaction as the detector's new state (an alert is never lost, nor
sent twice for one episode).

The daemon calls `check()` every few minutes and after polls that found matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from . import i18n, spikes
from .digest import DigestItem, item_json, merge_stories
from .models import Notice, StoredMatch
from .notices import NoticeBox
from .outbox import channels_of
from .spikes import Baseline, SpikeEvent, SpikeState, Story
from .store import Store
from .watchlists import Watchlist

#: A baseline is learnt again after this long (it moves slowly; a step costs microseconds).
RELEARN = timedelta(hours=1)


@dataclass
class SpikeWatch:
    store: Store
    notices: NoticeBox
    clock: Callable[[], datetime]
    timezone: str = "UTC"
    lag: float = 0.0  # the poll interval: the newest stories are not all fetched yet
    language: str = "fr"  # what alerts speak (i18n.py)
    _baselines: dict[str, tuple[datetime, Baseline]] = field(default_factory=dict)

    def check(self, watchlists: Sequence[Watchlist]) -> list[Notice]:
        now = self.clock()
        active = [w for w in watchlists if w.enabled and w.spike.enabled]
        history_days = timedelta(days=spikes.BASELINE_DAYS + 1)
        stories = self.store.watchlist_stories([w.name for w in active], now - history_days)
        sent = []
        for w in active:
            mine = stories.get(w.name, [])
            state = self.store.spike_state(w.name) or SpikeState(watching_since=now)
            state, event = spikes.step(state, self._baseline(w, state, mine, now), mine, now,
                                       w.spike, w.name, self.lag)
            notice = self._notice(event, w) if event is not None else None
            with self.store.transaction():
                self.store.save_spike_state(w.name, state, now)
                if notice is not None:
                    self.notices.queue(notice, channels_of(w))
            if notice is not None:
                sent.append(notice)
        return sent

    def reports(self, watchlists: Sequence[Watchlist], since: datetime
                ) -> list[spikes.SpikeReport]:
        """For `veille watch spikes`: each watchlist's rate now, its baseline, its episodes."""
        now = self.clock()
        start = min(since, now) - timedelta(days=spikes.BASELINE_DAYS + 1)
        stories = self.store.watchlist_stories([w.name for w in watchlists], start)
        out = []
        for w in watchlists:
            mine = stories.get(w.name, [])
            state = self.store.spike_state(w.name) or SpikeState()
            history = spikes.History(spikes.hourly_counts(mine), state.watching_since)
            out.append(spikes.spike_report(w.name, state, history, mine, now, since, w.spike,
                                           self._tz, self.lag))
        return out

    def _baseline(self, w: Watchlist, state: SpikeState, stories: list[Story],
                  now: datetime) -> Baseline:
        learnt = self._baselines.get(w.name)
        if learnt is None or now - learnt[0] >= RELEARN:
            history = spikes.History(spikes.hourly_counts(stories), state.watching_since or now)
            learnt = (now, spikes.learn_baseline(history, now, w.spike, self._tz))
            self._baselines[w.name] = learnt
        return learnt[1]

    @property
    def _tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    def _notice(self, event: SpikeEvent, w: Watchlist) -> Notice:
        since = event.generated_at - timedelta(seconds=event.window) - timedelta(hours=1)
        matches = self.store.matched_entries([w.name], matched_since=since, include_silent=True)
        items = story_items(matches)
        shown = [items[s] for s in dict.fromkeys((*event.first, *event.biggest)) if s in items]
        return Notice(event.id, "spike", spikes.subject(event, self.language),
                      alert_text(event, shown, self._tz, self.language),
                      spikes.webhook_body(event, [item_json(i) for i in shown]),
                      event.generated_at)


def story_items(matches: Sequence[StoredMatch]) -> dict[str, DigestItem]:
    """One digest item per story, keyed as the store keys stories for the detector."""
    groups: dict[str, list[StoredMatch]] = {}
    for m in matches:
        key = str(m.story_id if m.story_id is not None else m.entry.id)
        groups.setdefault(key, []).append(m)
    return {key: merge_stories(group)[0] for key, group in groups.items()}


def alert_text(event: SpikeEvent, items: Sequence[DigestItem], tz: tzinfo,
               language: str = "fr") -> str:
    """What, how much and why, then the first and biggest stories with their outlets."""
    count = f"{event.count} {i18n.plural(language, event.count, 'article', 'articles')}"
    window, factor = spikes.format_window(event.window), spikes.format_factor(event.factor)
    usual, start = format_baseline(event.baseline, language), i18n.format_datetime(
        event.started_at, ZoneInfo(str(tz)), language)
    if language == "en":
        head = [f"{event.watchlist}: {count} in {window}, against {usual} usually at this "
                f"time ({factor}).", f"Estimated start: {start}.", ""]
    else:
        head = [f"{event.watchlist} : {count} en {window}, pour {usual} d'habitude à cette "
                f"heure-ci ({factor}).", f"Début estimé : {start}.", ""]
    also = i18n.tr(language, "aussi dans") + i18n.colon(language)
    lines = head
    for item in items:
        outlets = f" ({also} {', '.join(item.also_in)})" if item.also_in else ""
        lines.append(f"• {item.display_title(language)} — {item.source}{outlets}")
        if item.link:
            lines.append(f"  {item.link}")
    return "\n".join(lines) + "\n"


def format_baseline(value: float, language: str) -> str:
    """The usual count as people write it: "4,2" in French, "4.2" in English; two
    significant digits below 1 ("0,25"), where one decimal would round it to nothing."""
    if 0 < value < 1:
        digits = max(1, 1 - math.floor(math.log10(value)))
        return i18n.format_number(round(value, digits), language, digits).rstrip("0").rstrip(",.")
    return i18n.format_number(round(value, 1), language, 1)
