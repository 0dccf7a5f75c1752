"""The delivery outbox: each (watchlist, channel, match) reaches the channel once.

    pending matches --(batch, committed first)--> channel.send --> mark delivered
                                                        \\--> mark failed, retry later

A batch is written before its first attempt and keeps its id, so a retry (or a resend after
a crash between send and mark) carries the same digest id / Message-ID.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .deliver import Channel
from .digest import build_digest, digest_id, story_key
from .errors import DeliveryError
from .models import OpenBatch, StoredMatch
from .schedule import retry_at
from .store import Store
from .watchlists import Watchlist

CONSOLE = "console"
#: New batches only take matches this recent: adding a channel to an old watchlist must not
#: mail its whole history. Batches already made are retried whatever their age.
PENDING_HORIZON = timedelta(days=14)
#: A digest carries at most this many matches; more make several messages, none lost.
MAX_BATCH = 100
#: How long a sender's claim on a batch lasts if it dies before marking the outcome.
CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class DeliveryOutcome:
    watchlist: str
    channel: str
    batch_id: str
    matches: int
    ok: bool
    detail: str


def _due(batch: OpenBatch, now: datetime) -> bool:
    """A batch never tried, or one whose retry backoff has passed."""
    return batch.next_attempt is None or batch.next_attempt <= now


def channels_of(watchlist: Watchlist) -> tuple[str, ...]:
    return watchlist.channels or (CONSOLE,)


class Outbox:
    def __init__(self, store: Store, channels: Mapping[str, Channel],
                 watchlists: Sequence[Watchlist], timezone: str,
                 clock: Callable[[], datetime], language: str = "fr") -> None:
        self.store = store
        self.language = language  # what the digests speak (i18n.py)
        self.channels = channels
        self.watchlists = {w.name: w for w in watchlists}
        self.timezone = timezone
        self.clock = clock

    def _pairs(self, names: Iterable[str] | None, channels: Iterable[str] | None
               ) -> list[tuple[Watchlist, str]]:
        # None means every one; an empty list means none (no instant watchlist, say)
        names = set(names) if names is not None else None
        wanted = set(channels) if channels is not None else None
        return [(w, c) for w in self.watchlists.values()
                if w.enabled and (names is None or w.name in names)
                for c in channels_of(w) if wanted is None or c in wanted]

    def batch_pending(self, watchlist: Watchlist, channel: str) -> None:
        fresh = self.store.matched_entries([watchlist.name], unbatched_for=channel,
                                           matched_since=self.clock() - PENDING_HORIZON)
        for chunk in story_batches(fresh, MAX_BATCH):
            self.store.create_batch(digest_id([watchlist.name, channel, *map(str, chunk)]),
                                    channel, chunk)

    async def deliver(self, names: Iterable[str] | None = None,
                      channels: Iterable[str] | None = None, *, due_only: bool = False
                      ) -> list[DeliveryOutcome]:
        """Send everything pending for these watchlists and channels, retries included.

        Channels are served concurrently, so one that hangs delays only itself. `due_only`
        (the daemon) leaves failed batches alone until their retry time; a user typing
        `digest --send` wants them tried now.
        """
        by_channel: dict[str, list[Watchlist]] = {}
        for watchlist, channel in self._pairs(names, channels):
            by_channel.setdefault(channel, []).append(watchlist)
        results = await asyncio.gather(*(self._deliver_channel(channel, lists, due_only)
                                         for channel, lists in by_channel.items()))
        return [o for outcomes in results for o in outcomes]

    async def _deliver_channel(self, channel: str, watchlists: Sequence[Watchlist],
                               due_only: bool) -> list[DeliveryOutcome]:
        outcomes = []
        for watchlist in watchlists:
            self.batch_pending(watchlist, channel)
            now = self.clock()
            for batch in self.store.open_batches(channel, watchlist.name):
                if due_only and not _due(batch, now):
                    continue
                if outcome := await self._send(batch):
                    outcomes.append(outcome)
        return outcomes

    async def retry_due(self, channels: Iterable[str] | None = None) -> list[DeliveryOutcome]:
        """Resend failed batches whose retry time has come (the daemon calls this)."""
        names = list(self.channels) if channels is None else list(channels)
        results = await asyncio.gather(*(self._retry_channel(c) for c in names))
        return [o for outcomes in results for o in outcomes]

    async def _retry_channel(self, channel: str) -> list[DeliveryOutcome]:
        outcomes = []
        for batch in self.store.open_batches(channel):
            if batch.attempts and _due(batch, self.clock()) and (
                    outcome := await self._send(batch)):
                outcomes.append(outcome)
        return outcomes

    async def _send(self, batch: OpenBatch) -> DeliveryOutcome | None:
        if not self.store.claim_batch(batch.id, batch.channel, self.clock(),
                                      self.clock() + CLAIM):
            return None  # another veille process is sending it right now
        watchlist = self.watchlists.get(batch.watchlist)
        channel = self.channels.get(batch.channel)
        matches = self.store.matched_entries(match_ids=batch.match_ids, include_silent=True)
        now = self.clock()
        description = watchlist.description if watchlist else ""
        digest = build_digest([(batch.watchlist, description, matches)], now, self.timezone,
                              batch.id, self.language)
        try:
            if channel is None:
                raise DeliveryError(batch.channel, "not configured any more")
            receipt = await channel.send(digest)
        except DeliveryError as e:
            self.store.mark_failed(batch.id, batch.channel, e.message, now,
                                   retry_at(batch.attempts + 1, now))
            return DeliveryOutcome(batch.watchlist, batch.channel, batch.id, len(matches),
                                   False, e.message)
        self.store.mark_delivered(batch.id, batch.channel, self.clock())
        return DeliveryOutcome(batch.watchlist, batch.channel, batch.id, len(matches), True,
                               receipt.detail)


def story_batches(matches: Sequence[StoredMatch], size: int) -> list[list[int]]:
    """Match ids in batches of about `size`, a story never split: a digest shows one item per
    story with its other outlets, and a story cut in two showed twice, in two messages, each
    without the other's outlets. (A story of more than `size` articles is a batch alone.)"""
    stories: dict[str, list[int]] = {}
    for m in sorted(matches, key=lambda m: m.id):
        stories.setdefault(story_key(m), []).append(m.id)
    batches: list[list[int]] = []
    for ids in stories.values():
        if batches and len(batches[-1]) + len(ids) <= size:
            batches[-1].extend(ids)
        else:
            batches.append(list(ids))
    return [sorted(b) for b in batches]
