"""One pass over feeds: fetch -> parse (worker processes) -> store + match, one transaction each.

    for feed in feeds (concurrently, bounded by the Fetcher):
        result  = fetcher.fetch(feed)                      # edge: HTTP
        parsed  = parser_pool.parse(result.body)           # off the event loop, both cores;
                                                           # entries folded there (folding.py)
        plan    = store.plan_entries(parsed.entries)       # one read: what is new or changed
        matches = matcher.match(plan)                      # CPU work, before taking the lock
        with store.transaction():                          # all of a feed, or none of it:
                                                           # a savepoint in a transaction that
                                                           # feeds share (write_batch.py)
            ids = store.write_entries(plan)                # and into the search backlog
            store.add_matches(matches for the entries written)
            store.save_stories(stories.add(matched entries))  # near-duplicates: one story
            store.save_state(after_fetch(feed, result))    # decision: schedule.after_fetch
            store.note_hub(websub.discover(result, parsed))  # a hub to subscribe to?
        # unchanged or failed: only its state, written with others' in one statement

A WebSub push enters at `push`: parse, then the same plan/match/transaction (`_ingest`).

The pipeline calls the stages in order and decides nothing itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from .config import Settings
from .feed_slots import FeedSlots
from .fetch import Fetcher, FetchRequest
from .folding import FoldedFeed
from .match import Matcher, MatchResult
from .models import FeedOutcome, FeedState, FetchResult, ParsedFeed, PassSummary, StoredEntry
from .outcomes import ErrorKind, FetchStatus, OutcomeStatus
from .parse_failure import ParseFailure
from .parser_pool import ParserPool, ParserTrouble
from .prepare import Preparation, PreparedFeed, story_settings
from .schedule import after_fetch, retry_after
from .search import folded_row, folded_text
from .store import Store
from .store.search import INDEX_BATCH
from .stories import StoryIndex
from .websub import discover
from .write_batch import WriteBatch

#: Feeds between the start of their fetch and the end of their store, at most: a first poll
#: downloads faster than it parses, and 10,000 bodies waiting would hold 700 MB. The daemon
#: runs a pass per tick, so passes overlap: they share one bound (feed_slots.py).
BACKLOG = 256


def feed_slots(per_host: int) -> FeedSlots:
    """The places that concurrent passes share (the daemon's): BACKLOG in all."""
    return FeedSlots(BACKLOG, per_host)


def silent_match(entry: StoredEntry, first_fetch: bool, now: datetime, catchup: float) -> bool:
    """No flood: old entries seen on a feed's first fetch (or a backfill) are recorded silently."""
    return first_fetch and entry.dated and entry.published < now - timedelta(seconds=catchup)


class FeedPass:
    """Everything one pass needs; built by app.py, reused by the daemon for every poll."""

    def __init__(self, settings: Settings, store: Store, fetcher: Fetcher, parser: ParserPool,
                 matcher: Matcher, clock: Callable[[], datetime],
                 rng: random.Random | None = None,
                 stories: StoryIndex | Callable[[], StoryIndex] | None = None,
                 poll_floor: Callable[[str], float | None] | None = None,
                 slots: FeedSlots | None = None) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.parser = parser
        self.matcher = matcher
        self.clock = clock
        self.rng = rng or random.Random()
        self.poll_floor = poll_floor  # feed URL -> the slower interval of a pushed feed
        # a callable is called at the first match: restoring the index reads every story of
        # the window, which a pass where nothing matched (or changed) does not need
        self._stories = stories
        # shared with the passes that overlap this one (the daemon starts one per tick): else
        # 60 ticks of a first round, each with its BACKLOG, would hold 60 times the bodies
        self.slots = slots

    @property
    def stories(self) -> StoryIndex | None:
        if callable(self._stories):
            self._stories = self._stories()
        return self._stories

    async def run(self, feeds: Sequence[FeedState],
                  on_done: Callable[[FeedOutcome], None] | None = None) -> PassSummary:
        summary = PassSummary()
        writes = WriteBatch(self.store)
        queue = iter(feeds)
        # a feed never fetched brings a body to parse: a first poll is a known load, counted
        # off as each such feed is done (the pool adds up the passes that overlap)
        expected = sum(1 for f in feeds if f.never_fetched)

        async def worker() -> None:
            # BACKLOG tasks take the feeds in order, rather than one task per feed: 10,000
            # tasks waiting for their turn would hold some 15 MB of coroutines
            for feed in queue:
                async with self.slots.feed(feed.fetch_url) if self.slots else nullcontext():
                    await one(feed)

        async def one(feed: FeedState) -> None:
            nonlocal expected
            try:
                outcome = await self.poll(feed, writes)
            except Exception as e:  # a bug must cost one feed, not the pass: record it
                state, outcome = self._finish(feed, FetchResult(
                    feed.url, FetchStatus.ERROR, error_kind=ErrorKind.INTERNAL,
                    error_message=f"{type(e).__name__}: {e}"))
                self.store.save_state(state)  # alone: the batch may be what failed
            finally:
                if feed.never_fetched:
                    expected -= 1
                    self.parser.expect(-1)
            summary.outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        width = min(len(feeds), max(BACKLOG, 2 * self.settings.fetch.concurrency))
        self.parser.expect(expected)
        self._preparation()
        try:
            await asyncio.gather(*(worker() for _ in range(width)))
        finally:
            self.parser.expect(-expected)  # a pass cut short: its feeds not polled
        return summary

    async def poll(self, feed: FeedState, writes: WriteBatch | None = None) -> FeedOutcome:
        """Fetch, parse and store one feed; its writes share the transaction of `writes`
        (each in a transaction of its own without one)."""
        outcome = await self._poll(feed, writes)
        if isinstance(outcome, FeedOutcome):
            return outcome
        state, outcome = outcome
        if writes is None:
            self.store.save_state(state)
        else:
            await writes.save(state)
        return outcome

    async def _poll(self, feed: FeedState, writes: WriteBatch | None
                    ) -> FeedOutcome | tuple[FeedState, FeedOutcome]:
        """A stored feed's outcome, or the state to write and outcome of any other."""
        started = time.monotonic()
        result = await self.fetcher.fetch(FetchRequest(feed.url, feed.fetch_url, feed.etag,
                                                       feed.last_modified))
        elapsed = time.monotonic() - started
        outcome = await self._after_fetch(feed, result, writes)
        if result.status == FetchStatus.DEFERRED:  # nothing was asked of the server
            return outcome
        if isinstance(outcome, FeedOutcome):
            return replace(outcome, fetch_seconds=elapsed)
        state, done = outcome
        return state, replace(done, fetch_seconds=elapsed)

    async def _after_fetch(self, feed: FeedState, result: FetchResult, writes: WriteBatch | None
                           ) -> FeedOutcome | tuple[FeedState, FeedOutcome]:
        if result.http_status in (429, 503):
            wait = retry_after(result.headers, self.clock())
            if wait:  # the whole host asked us to wait, not just this feed
                self.fetcher.defer_host(urlsplit(feed.fetch_url).hostname or "", wait)
        if result.status != FetchStatus.OK or result.body is None:
            return self._finish(feed, result)
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == feed.body_hash:  # the server ignored our validators; nothing changed
            return self._finish(feed, result, body_hash=body_hash)
        # relative links resolve against where the body came from (after redirects); the
        # items stored already are left unread (entry_fingerprint.py)
        known = {} if feed.never_fetched else self.store.known_items(feed.url)
        parsed = await self.parser.parse(result.final_url or feed.fetch_url, result.body,
                                         result.headers, known)
        if isinstance(parsed, ParserTrouble):  # our parser failed, not the feed
            return self._finish(feed, replace(result, status=FetchStatus.ERROR, error_kind=parsed.kind,
                                              error_message=parsed.message))
        if isinstance(parsed, ParseFailure):
            return self._finish(feed, result, parse_error=str(parsed))
        return await self._store(feed, result, parsed, body_hash, writes)

    def _finish(self, feed: FeedState, result: FetchResult, *, body_hash: str | None = None,
                parse_error: str | None = None) -> tuple[FeedState, FeedOutcome]:
        """The state to write and the outcome of a feed with nothing to store."""
        now = self.clock()
        state = after_fetch(feed, result, now, self.settings.fetch, self.rng,
                            body_hash=body_hash, parse_error=parse_error,
                            floor=self._floor(feed))
        if result.status in (FetchStatus.GONE, FetchStatus.DEFERRED):
            return state, FeedOutcome(feed.url, OutcomeStatus(result.status.value),
                                      message=result.error_message)
        if state.failures:
            return state, FeedOutcome(feed.url, OutcomeStatus.FAILED,
                                      message=state.error_message, moved_to=result.moved_to)
        return state, FeedOutcome(feed.url, OutcomeStatus.UNCHANGED, moved_to=result.moved_to)

    async def _store(self, feed: FeedState, result: FetchResult, parsed: ParsedFeed,
                     body_hash: str, writes: WriteBatch | None) -> FeedOutcome:
        now = self.clock()
        state = after_fetch(feed, result, now, self.settings.fetch, self.rng,
                            body_hash=body_hash, parsed=parsed, floor=self._floor(feed))
        state = replace(state, feed_title=parsed.title or None, site_link=parsed.link)
        hub = discover(result.headers, parsed.links, result.final_url or feed.fetch_url)
        return await self._ingest(feed, parsed, now, state, hub, result.moved_to, writes)

    def _prepared(self, parsed: ParsedFeed) -> PreparedFeed | None:
        """`parsed` when a parser process matched it with this pass's watchlists (never
        with `source:` terms: prepare.prepare leaves those to the pass)."""
        if isinstance(parsed, PreparedFeed) and parsed.matched_by == self.matcher.key:
            return parsed
        return None

    def _preparation(self) -> None:
        """Tell the parser what its workers prepare entries with (prepare.py)."""
        preparation = Preparation(self.matcher, self.settings.stories)
        self.parser.prepare_with(preparation.key, preparation)

    def _floor(self, feed: FeedState) -> float | None:
        return self.poll_floor(feed.url) if self.poll_floor is not None else None

    async def push(self, feed: FeedState, body: bytes, headers: dict[str, str]) -> FeedOutcome:
        """A body a WebSub hub pushed: parsed, deduplicated, matched and stored like a poll's,
        leaving the feed's fetch state (validators, next poll) alone."""
        self._preparation()
        parsed = await self.parser.parse(feed.fetch_url, body, headers,
                                         self.store.known_items(feed.url))
        if isinstance(parsed, ParserTrouble | ParseFailure):
            message = parsed.message if isinstance(parsed, ParserTrouble) else str(parsed)
            return FeedOutcome(feed.url, OutcomeStatus.FAILED, message=f"push: {message}")
        return await self._ingest(feed, parsed, self.clock(), None, None, None)

    async def _ingest(self, feed: FeedState, parsed: ParsedFeed, now: datetime,
                      state: FeedState | None, hub: tuple[str, str] | None,
                      moved_to: str | None, writes: WriteBatch | None = None) -> FeedOutcome:
        """Plan, match and write one feed's entries (and its new state, after a poll) in one
        transaction, or one savepoint of the pass's shared transaction: the one path from a
        parsed feed to alerts, for polls and pushes."""
        name = state.name if state is not None else feed.name
        folded = parsed.folded if isinstance(parsed, FoldedFeed) else ()
        plan = self.store.plan_entries(feed.url, parsed.entries, now, name, parsed.parser,
                                       folded)
        rows = {i: folded_row(w.folded, feed.url) for i, w in enumerate(plan)
                if w.folded is not None}
        prepared = self._prepared(parsed)
        matched = [(i, m, silent_match(w.change.entry, feed.never_fetched, now,
                                       self.settings.digest.catchup))
                   for i, w in enumerate(plan) if not w.silent
                   for m in (prepared.matches[w.source] if prepared is not None else
                             self.matcher.match(w.change.entry, None if w.folded is None else
                                                folded_text(w.change.entry, w.folded, rows[i])))]
        stories = self.stories if matched else None  # restored outside the write lock
        keys = (prepared.story_keys if prepared is not None and stories is not None
                and prepared.story_settings == story_settings(stories.config) else None)
        alerting: list[str] = []

        def write() -> tuple[dict[int, int], int]:
            ids = self.store.write_entries(feed.url, plan, now)
            # in the transaction: the batch's first poll to index finds every feed's rows
            self.store.remember_index_rows((ids[i], plan[i].values["content_hash"], row)
                                           for i, row in rows.items() if i in ids)
            # built, not dataclasses.replace()d: that costs ~10 us a call, three per match
            new_matches = self.store.add_matches(
                [(MatchResult(m.watchlist, ids[i], m.terms, m.snippet), silent)
                 for i, m, silent in matched if i in ids], now, alerting)
            if stories is not None:  # only matched entries make stories
                self.store.save_stories(
                    stories.add_entry(plan[i].change.entry, ids[i],
                                      keys[plan[i].source] if keys is not None else None)
                    for i in dict.fromkeys(i for i, _, _ in matched) if i in ids)
            if state is not None:
                self.store.save_state(state)
                self.store.note_hub(feed.url, hub)
            return ids, new_matches

        if writes is not None:
            ids, new_matches = await writes.run(write)
        else:
            with self.store.transaction():
                ids, new_matches = write()
        if self.store.index_waiting() >= INDEX_BATCH:  # while the folded rows are in memory
            self.store.index_pending()
        changes = [w for i, w in enumerate(plan) if i in ids and not w.silent]
        return FeedOutcome(
            feed.url, OutcomeStatus.OK, new_entries=sum(w.change.new for w in changes),
            updated_entries=sum(not w.change.new for w in changes), new_matches=new_matches,
            message=parsed.warning, moved_to=moved_to, matched=tuple(alerting))
