"""Feeds share commits (write_batch.py): fewer transactions, each feed still all or nothing."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from veille.config import settings_from_toml
from veille.match import Matcher, compile_watchlist
from veille.models import FeedSource, FetchResult, ParsedEntry, ParsedFeed
from veille.pipeline import FeedPass
from veille.store import Store
from veille.write_batch import WriteBatch

from .conftest import StubParser

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
URLS = [f"https://f{i}.example/rss" for i in range(6)]


def entry(key: str) -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=f"Nestlé {key}", link=None, author=None,
                       published=NOW, updated=None, summary_html="", summary_text="",
                       content_html="", content_text="")


class Fetcher:
    async def fetch(self, request):
        return FetchResult(request.url, "ok", 200, request.url.encode(), {})


class Parser(StubParser):
    """Each feed's own entries; the feed named `broken` makes the store fail."""

    async def parse(self, url, body, headers, known=None):
        return ParsedFeed("t", None, None, None, (entry(f"{url}#1"), entry(f"{url}#2")))


def commits(store: Store) -> list[str]:
    seen: list[str] = []
    store.db.conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def test_feeds_with_new_entries_share_a_commit():
    store = Store.memory()
    store.sync_feeds([FeedSource(u) for u in URLS])
    seen = commits(store)
    feed_pass = FeedPass(settings_from_toml({}, None, {"HOME": "/tmp"}), store, Fetcher(),
                         Parser(), Matcher([compile_watchlist("n", "nestlé")]), lambda: NOW,
                         random.Random(1))
    summary = asyncio.run(feed_pass.run(store.feeds()))
    assert summary.count("ok") == len(URLS)
    assert len(store.entries(limit=None)) == 2 * len(URLS)
    assert all(store.feed(u).last_success == NOW for u in URLS)
    assert len(seen) < len(URLS)  # one transaction per feed before


def test_a_pass_tells_the_parser_how_many_bodies_it_is_sure_to_bring():
    """Feeds never fetched bring a body each (a first poll): the parser starts its worker
    processes at once for a lot of them (parse_route.py). The pass adds them up front and
    takes one back as each such feed is done, so passes that overlap add up."""
    store = Store.memory()
    store.sync_feeds([FeedSource(u) for u in URLS])
    told: list[int] = []

    class Counting(Parser):
        def expect(self, bodies):
            told.append(bodies)

    feed_pass = FeedPass(settings_from_toml({}, None, {"HOME": "/tmp"}), store, Fetcher(),
                         Counting(), Matcher([]), lambda: NOW, random.Random(1))
    asyncio.run(feed_pass.run(store.feeds()))
    first = list(told)
    told.clear()
    asyncio.run(feed_pass.run(store.feeds()))  # fetched now: nothing is sure any more
    assert first[0] == len(URLS) and first[1:].count(-1) == len(URLS) and sum(first) == 0
    assert all(sum(first[:n]) >= 0 for n in range(len(first)))
    assert told[0] == 0 and sum(told) == 0


def test_a_failing_feed_is_rolled_back_alone_and_the_others_commit():
    store = Store.memory()
    store.sync_feeds([FeedSource(u) for u in URLS])

    def write(url: str, fail: bool):
        def job() -> str:
            store.upsert_entries(url, [entry(f"{url}#1")], NOW)
            if fail:
                raise RuntimeError("disque plein")
            return url
        return job

    async def three() -> list[object]:
        batch = WriteBatch(store)
        return await asyncio.gather(*(batch.run(write(u, u == URLS[1])) for u in URLS[:3]),
                                    return_exceptions=True)

    seen = commits(store)
    first, failed, third = asyncio.run(three())
    assert (first, third) == (URLS[0], URLS[2]) and isinstance(failed, RuntimeError)
    assert {e.feed_url for e in store.entries(limit=None)} == {URLS[0], URLS[2]}
    assert len(seen) == 1


def test_a_failed_commit_fails_every_feed_of_the_batch():
    store = Store.memory()
    store.sync_feeds([FeedSource(u) for u in URLS])

    def job() -> None:
        store.upsert_entries(URLS[0], [entry("a")], NOW)
        store.db.conn.execute("ROLLBACK")  # as SQLite does itself on some errors
        raise RuntimeError("transaction gone")

    async def two() -> list[object]:
        batch = WriteBatch(store)
        return await asyncio.gather(batch.run(job), batch.run(lambda: 1),
                                    return_exceptions=True)

    results = asyncio.run(two())
    assert all(isinstance(r, Exception) for r in results)
    assert store.entries(limit=None) == []
    with pytest.raises(RuntimeError):
        asyncio.run(WriteBatch(store).run(job))
