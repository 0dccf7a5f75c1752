"""Builds the working parts from Settings: the clock, the store, the fetcher, the matcher.

The one place that reads the wall clock (`utcnow`); everything below is given `now`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TextIO

from .config import Settings, read_secret
from .cron import parse_schedule
from .deliver import Channel, build_channel
from .errors import ConfigError
from .feed_slots import FeedSlots
from .fetch import Fetcher
from .folding import fold_fast_only
from .match import Matcher
from .models import FeedOutcome, FeedState, PassSummary
from .notices import NoticeBox
from .opml import OpmlDocument
from .outbox import Outbox
from .parser_pool import ParserPool
from .pipeline import FeedPass, silent_match
from .prepare import install, parse_and_prepare
from .schedule import is_due
from .search import candidate_ids
from .spike_watch import SpikeWatch
from .store import Store
from .stories import StoryIndex
from .watchlists import Watchlist, build_matcher, check_channels, load_watchlists


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)
    _store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.settings.database)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- files the user edits -----------------------------------------------------------------

    def opml(self) -> OpmlDocument:
        return OpmlDocument.load(self.settings.feeds)

    def watchlists(self) -> list[Watchlist]:
        lists = load_watchlists(self.settings.watchlists, parse_schedule,
                                required=self.settings.watchlists_named)
        check_channels(lists, self.settings.channels, self.settings.watchlists)
        return lists

    def matcher(self, watchlists: Sequence[Watchlist] | None = None) -> Matcher:
        return build_matcher(self.watchlists() if watchlists is None else watchlists)

    def channels(self, stdout: TextIO) -> dict[str, Channel]:
        return {name: build_channel(cs, partial(read_secret, cs), stdout)
                for name, cs in self.settings.channels.items()}

    def outbox(self, watchlists: Sequence[Watchlist], stdout: TextIO) -> Outbox:
        return Outbox(self.store, self.channels(stdout), watchlists, self.settings.timezone,
                      self.clock, self.settings.language)

    def spike_watch(self, stdout: TextIO) -> SpikeWatch:
        return SpikeWatch(self.store, NoticeBox(self.store, self.channels(stdout), self.clock),
                          self.clock, self.settings.timezone, lag=self.settings.fetch.interval,
                          language=self.settings.language)

    def sync_feeds(self) -> list[FeedState]:
        """Read feeds.opml and make the store follow it; returns the feeds to poll."""
        self.store.sync_feeds(self.opml().sources())
        return self.store.feeds()

    # --- fetching -----------------------------------------------------------------------------

    def select_feeds(self, feeds: Iterable[FeedState], urls: Sequence[str] = (),
                     due_only: bool = False) -> list[FeedState]:
        feeds = list(feeds)
        if urls:
            known = {f.url for f in feeds}
            missing = [u for u in urls if u not in known]
            if missing:
                raise ConfigError(self.settings.feeds, None,
                                  f"no feed {missing[0]} (see `veille feeds list`)")
            return [f for f in feeds if f.url in urls]  # named explicitly: even if gone
        now = self.clock()
        return [f for f in feeds if not f.gone and (is_due(f, now) if due_only else True)]

    def parser_pool(self) -> ParserPool:
        """Parser processes whose crashes and timeouts are counted in the store for `status`,
        started only for a backlog the process cannot parse alone (parse_route.py). Both lanes
        fold the entries they parse (folding.py)."""
        return ParserPool(timeout=self.settings.fetch.parse_timeout, parse=parse_and_prepare,
                          inline=fold_fast_only, worker_init=install,
                          on_event=lambda kind: self.store.count_event(f"events:{kind}"))

    def story_index(self) -> StoryIndex:
        """The near-duplicate index as the last process left it (the window's stored rows)."""
        config = self.settings.stories
        now = self.clock()
        return StoryIndex.restore(self.store.story_rows(now - config.window), config, now)

    def feed_pass(self, fetcher: Fetcher, parser: ParserPool, matcher: Matcher,
                  stories: StoryIndex | None = None,
                  poll_floor: Callable[[str], float | None] | None = None,
                  slots: FeedSlots | None = None) -> FeedPass:
        return FeedPass(self.settings, self.store, fetcher, parser, matcher, self.clock,
                        self.rng, stories if stories is not None else self.story_index,
                        poll_floor, slots)

    async def fetch(self, feeds: Sequence[FeedState], matcher: Matcher,
                    on_done: Callable[[FeedOutcome], None] | None = None) -> PassSummary:
        """One pass with its own fetcher and parser processes (the CLI's `veille fetch`)."""
        parser = self.parser_pool()
        try:
            async with Fetcher(self.settings.fetch) as fetcher:
                summary = await self.feed_pass(fetcher, parser, matcher).run(feeds, on_done)
        finally:
            parser.close()
        self.store.index_pending()  # the pass's entries, in a few large batches
        return summary

    def backfill(self, watchlist: Watchlist, since: datetime | None) -> tuple[int, int]:
        """Apply one watchlist to stored entries; old ones are recorded silently (no flood).
        Returns (entries examined, new matches)."""
        matcher = build_matcher([watchlist])
        if watchlist.compiled is None or not matcher.watchlists:
            return 0, 0  # disabled: nothing to apply
        now = self.clock()
        examined = added = 0
        batch = []
        # the search index lets through the entries that can match; the matcher decides.
        # Their ids are read first (matches are written while the entries are examined),
        # the entries themselves 500 at a time.
        ids = [i for chunk in candidate_ids(self.store, watchlist.compiled.node, since=since,
                                            batch=5000) for i in chunk]
        entries = (e for start in range(0, len(ids), 500)
                   for e, _story in self.store.entries_by_id(ids[start:start + 500]))
        for entry in entries:
            examined += 1
            batch += [(m, silent_match(entry, True, now, self.settings.digest.catchup))
                      for m in matcher.match(entry)]
            if len(batch) >= 500:
                with self.store.transaction():
                    added += self.store.add_matches(batch, now)
                batch = []
        with self.store.transaction():
            added += self.store.add_matches(batch, now)
        return examined, added
