"""The store: one transaction per feed, dedup identity, updates in place, migrations."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from veille.config import settings_from_toml
from veille.match import Matcher
from veille.models import FeedSource, FetchResult, ParsedEntry, ParsedFeed
from veille.pipeline import FeedPass
from veille.store import Store, migrations

from .conftest import StubParser

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def entry(key: str, title: str = "t", published: datetime | None = NOW) -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=title, link=None, author=None,
                       published=published, updated=None, summary_html="", summary_text="",
                       content_html="", content_text="")


def test_migrations_are_recorded_and_idempotent(tmp_path):
    store = Store.open(tmp_path / "v.db")
    applied = [m.name for m in migrations.applied(store.db)]
    assert applied == ["m001_initial", "m002_delivery_claims", "m003_hash_versions", "m004_notices",
                       "m005_feed_health", "m006_stories_and_spikes", "m008_entry_outlet",
                       "m009_websub", "m007_search_index", "m010_search_backlog",
                       "m011_entry_fingerprints", "m012_search_automerge"]
    store.close()
    store = Store.open(tmp_path / "v.db")
    assert [m.name for m in migrations.applied(store.db)] == applied
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_upsert_keeps_first_seen_and_counts_changes():
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f")])
    [new] = store.upsert_entries("https://f", [entry("a")], NOW)
    assert new.new and new.entry.first_seen == NOW
    assert store.upsert_entries("https://f", [entry("a")], NOW + timedelta(hours=1)) == []
    [changed] = store.upsert_entries("https://f", [entry("a", "nouveau titre", None)],
                                     NOW + timedelta(hours=2))
    assert not changed.new
    e = changed.entry
    assert e.first_seen == NOW and e.changes == 1 and e.changed_at == NOW + timedelta(hours=2)
    assert e.published == NOW  # the feed dropped the date: keep the one we had


class FailingMatcher(Matcher):
    def match(self, entry, source_name=""):
        raise RuntimeError("crash while storing")


class FakeFetcher:
    def __init__(self, result):
        self.result = result

    async def fetch(self, request):
        return self.result


class InlineParser(StubParser):
    def __init__(self, parsed):
        self.parsed = parsed

    async def parse(self, url, body, headers, known=None):
        return self.parsed


def test_a_crash_leaves_the_feed_untouched():
    settings = settings_from_toml({}, None, {"HOME": "/tmp"})
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f")])
    parsed = ParsedFeed("t", None, None, None, (entry("a"), entry("b")))
    result = FetchResult("https://f", "ok", 200, b"<rss/>", {"etag": '"x"'})
    feed_pass = FeedPass(settings, store, FakeFetcher(result), InlineParser(parsed),
                         FailingMatcher([]), lambda: NOW, random.Random(1))
    summary = asyncio.run(feed_pass.run(store.feeds()))
    assert summary.count("failed") == 1
    assert store.entries() == []  # nothing of the failed transaction remains
    state = store.feed("https://f")
    assert state.etag is None and state.error_kind == "internal"
    assert state.error_message == "RuntimeError: crash while storing"
    feed_pass.matcher = Matcher([])
    asyncio.run(feed_pass.run(store.feeds()))
    assert len(store.entries()) == 2 and store.feed("https://f").etag == '"x"'


def test_prune_keeps_matched_entries():
    from veille.match import MatchResult

    store = Store.memory()
    store.sync_feeds([FeedSource("https://f")])
    old = NOW - timedelta(days=100)
    changes = store.upsert_entries("https://f", [entry("a"), entry("b")], old)
    store.upsert_entries("https://f", [entry("c")], NOW)
    store.add_matches([(MatchResult("w", changes[0].entry.id, ("a",), ""), False)], old)
    assert store.prune(NOW - timedelta(days=90)) == 1
    assert sorted(e.key for e in store.entries()) == ["a", "c"]


def test_an_old_database_is_upgraded_in_place(tmp_path):
    import sqlite_utils

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m002_delivery_claims")  # as the first release left it
    db.execute("INSERT INTO feeds (url) VALUES ('https://f')")
    db.conn.commit()
    db.conn.close()
    store = Store.open(path)
    assert [f.url for f in store.feeds(all_feeds=True)] == ["https://f"]
    assert "claimed_until" in store.db["deliveries"].columns_dict


def test_the_poller_reads_the_due_feeds_and_the_next_due_time_only():
    """A tick of a daemon watching 10,000 feeds reads the few due ones, not every state."""
    store = Store.memory()
    urls = [f"https://f{i}.example/rss" for i in range(6)]
    store.sync_feeds([FeedSource(u) for u in urls])
    dues = [None, NOW - timedelta(minutes=1), NOW, NOW + timedelta(minutes=5),
            NOW + timedelta(minutes=2), NOW - timedelta(hours=1)]
    for url, due in zip(urls, dues, strict=True):
        store.update_feed(url, next_due=due)
    store.sync_feeds([FeedSource(u) for u in urls[1:]])  # f0 leaves the OPML
    store.update_feed(urls[5], gone=True)
    assert [f.url for f in store.due_feeds(NOW)] == urls[1:3]
    assert store.next_due_after(NOW) == NOW + timedelta(minutes=2)
    assert store.next_due_after(NOW + timedelta(minutes=5)) is None
    assert store.feed_next_due(urls[1]) == NOW - timedelta(minutes=1)  # past: due again
    assert store.feed_next_due(urls[5]) is None and store.feed_next_due(urls[0]) is None
    store.update_feed(urls[1], failures=2)
    store.update_feed(urls[5], failures=4)  # gone: not counted as failing
    store.update_feed(urls[0], failures=1)  # out of the OPML: not counted at all
    assert store.feed_counts() == (5, 1)


def test_the_store_runs_no_sqlite_utils_plugins(tmp_path):
    """What the database does must not depend on what else is installed: a sqlite-utils
    plugin's prepare_connection hook is not run (nor are plugins looked for, which scans
    every installed package's entry points at each start)."""
    code = ("import sys; from veille.store import Store; import sqlite_utils.plugins as p\n"
            f"Store.open({str(tmp_path / 'v.db')!r}).close(); Store.memory()\n"
            "print(p._plugins_loaded)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "False"
