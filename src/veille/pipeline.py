"""One pass over feeds: fetch -> parse (worker processes) -> store + match, one transaction each.

    for feed in feeds (concurrently, bounded by the Fetcher):
        result  = fetcher.fetch(feed)                      # edge: HTTP
        parsed  = parser_pool.parse(result.body)           # off the event loop, both cores
        with store.transaction():                          # all of a feed, or none of it
            changes = store.upsert_entries(parsed.entries)
            store.add_matches(matcher.match(changes))
            store.save_state(after_fetch(feed, result))    # decision: schedule.after_fetch

The pipeline calls the stages in order and decides nothing itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from .config import Settings
from .fetch import Fetcher, FetchRequest
from .match import Matcher, MatchResult
from .models import FeedOutcome, FeedState, FetchResult, ParsedFeed, PassSummary, StoredEntry
from .parse import ParseFailure, parse_feed
from .schedule import after_fetch, retry_after
from .store import Store


class ParserPool:
    """Worker processes fed with bytes, so downloads go on while feeds are parsed."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None

    async def parse(self, url: str, body: bytes, headers: dict[str, str]
                    ) -> ParsedFeed | ParseFailure:
        if self._executor is None:
            # forkserver, not fork: the daemon has threads (APScheduler, sqlite), and forking a
            # threaded process can deadlock the child. The server imports the parser once.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["veille.parse"])
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, parse_feed, url, body, headers)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def silent_match(entry: StoredEntry, first_fetch: bool, now: datetime, catchup: float) -> bool:
    """No flood: old entries seen on a feed's first fetch (or a backfill) are recorded silently."""
    return first_fetch and entry.dated and entry.published < now - timedelta(seconds=catchup)


class FeedPass:
    """Everything one pass needs; built by app.py, reused by the daemon for every poll."""

    def __init__(self, settings: Settings, store: Store, fetcher: Fetcher, parser: ParserPool,
                 matcher: Matcher, clock: Callable[[], datetime],
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.parser = parser
        self.matcher = matcher
        self.clock = clock
        self.rng = rng or random.Random()

    async def run(self, feeds: Sequence[FeedState],
                  on_done: Callable[[FeedOutcome], None] | None = None) -> PassSummary:
        summary = PassSummary()

        async def one(feed: FeedState) -> None:
            try:
                outcome = await self.poll(feed)
            except Exception as e:  # a bug must cost one feed, not the pass: record it
                outcome = self._finish(feed, FetchResult(
                    feed.url, "error", error_kind="internal",
                    error_message=f"{type(e).__name__}: {e}"))
            summary.outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        await asyncio.gather(*(one(f) for f in feeds))
        return summary

    async def poll(self, feed: FeedState) -> FeedOutcome:
        result = await self.fetcher.fetch(FetchRequest(feed.url, feed.fetch_url, feed.etag,
                                                       feed.last_modified))
        if result.http_status in (429, 503):
            wait = retry_after(result.headers, self.clock())
            if wait:  # the whole host asked us to wait, not just this feed
                self.fetcher.defer_host(urlsplit(feed.fetch_url).hostname or "", wait)
        if result.status != "ok" or result.body is None:
            return self._finish(feed, result)
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == feed.body_hash:  # the server ignored our validators; nothing changed
            return self._finish(feed, result, body_hash=body_hash)
        parsed = await self.parser.parse(feed.fetch_url, result.body, result.headers)
        if isinstance(parsed, ParseFailure):
            return self._finish(feed, result, parse_error=str(parsed))
        return self._store(feed, result, parsed, body_hash)

    def _finish(self, feed: FeedState, result: FetchResult, *, body_hash: str | None = None,
                parse_error: str | None = None) -> FeedOutcome:
        now = self.clock()
        state = after_fetch(feed, result, now, self.settings.fetch, self.rng,
                            body_hash=body_hash, parse_error=parse_error)
        self.store.save_state(state)
        if result.status in ("gone", "deferred"):
            return FeedOutcome(feed.url, result.status, message=result.error_message)
        if state.failures:
            return FeedOutcome(feed.url, "failed", message=state.error_message,
                               moved_to=result.moved_to)
        return FeedOutcome(feed.url, "unchanged", moved_to=result.moved_to)

    def _store(self, feed: FeedState, result: FetchResult, parsed: ParsedFeed,
               body_hash: str) -> FeedOutcome:
        now = self.clock()
        state = after_fetch(feed, result, now, self.settings.fetch, self.rng,
                            body_hash=body_hash, parsed=parsed)
        state = replace(state, feed_title=parsed.title or None, site_link=parsed.link)
        with self.store.transaction():
            changes = self.store.upsert_entries(feed.url, parsed.entries, now, state.name)
            results: list[tuple[MatchResult, bool]] = []
            for change in changes:
                silent = silent_match(change.entry, feed.never_fetched, now,
                                      self.settings.digest.catchup)
                results += [(m, silent) for m in self.matcher.match(change.entry)]
            new_matches = self.store.add_matches(results, now)
            self.store.save_state(state)
        return FeedOutcome(
            feed.url, "ok", new_entries=sum(c.new for c in changes),
            updated_entries=sum(not c.new for c in changes), new_matches=new_matches,
            message=parsed.warning, moved_to=result.moved_to)
