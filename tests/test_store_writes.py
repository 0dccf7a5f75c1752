"""Storing a feed's entries cheaply without changing what is stored: the one JSON and
timestamp formats, savepoints, and the folded rows kept for the search index."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.config import settings_from_toml
from veille.folding import FoldedFeed, fold_entry
from veille.match import Matcher, compile_watchlist
from veille.models import FeedSource, FetchResult, ParsedEntry, ParsedFeed
from veille.pipeline import FeedPass
from veille.search import entry_index_row
from veille.store import Store, iso
from veille.store.rows import json_strings
from veille.store.search import INDEX_BATCH

from .conftest import StubParser

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
FEED = "https://www.lemonde.fr/rss/une.xml"


def entry(key: str, title: str = "Nestlé", text: str = "Le cœur") -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=title, link=f"https://www.lemonde.fr/{key}",
                       author="A. Auteur", published=NOW, updated=None, summary_html=text,
                       summary_text=text, content_html="", content_text="",
                       categories=("Économie",))


@given(st.lists(st.text()))
def test_json_arrays_of_strings_are_written_as_json_dumps_writes_them(items):
    assert json_strings(items) == json.dumps(items, ensure_ascii=False)
    assert json.loads(json_strings(tuple(items))) == items


_ZONES = st.just(UTC) | st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23),
                                                          max_value=timedelta(hours=23)))


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1),
                    timezones=_ZONES))
def test_timestamps_keep_their_one_format(when):
    utc = when.astimezone(UTC)
    assert iso(when) == utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    assert len(iso(when) or "") == len("2026-11-26T08:00:00.000000Z")


def test_a_savepoint_inside_a_savepoint_rolls_back_alone():
    store = Store.memory()
    with store.transaction():
        store.set_meta("outer", "1")
        with store.transaction():
            store.set_meta("middle", "1")
            with pytest.raises(RuntimeError), store.transaction():
                store.set_meta("inner", "1")
                raise RuntimeError
            store.set_meta("middle after", "1")
    assert [store.get_meta(k) for k in ("outer", "middle", "inner", "middle after")] == [
        "1", "1", None, "1"]


def test_a_row_remembered_by_a_rolled_back_write_is_never_indexed():
    """An id rolled back is the next entry's: a row kept for it would index that entry with
    another's words, had its content hash come out the same."""
    store = Store.memory()
    store.sync_feeds([FeedSource(FEED, "Le Monde")])
    first = entry("a", "Nestlé rachète")
    plan = store.plan_entries(FEED, [first], NOW, "", "p", [fold_entry(first)])
    with store.transaction(), pytest.raises(RuntimeError), store.transaction():
        ids = store.write_entries(FEED, plan, NOW)
        store.remember_index_rows([(ids[0], plan[0].values["content_hash"],
                                    (" wrong ",) * 5)])
        raise RuntimeError
    assert store.index_waiting() == 0
    second = entry("b", "Danone")
    plan = store.plan_entries(FEED, [second], NOW, "", "p")
    with store.transaction():
        [entry_id] = store.write_entries(FEED, plan, NOW).values()
    assert entry_id == ids[0]  # SQLite gave the id again
    assert store.index_pending() == 1
    [stored] = store.entries(limit=None)
    row = store.db.execute("SELECT title, body, author, source, category FROM entry_search "
                           "WHERE rowid = ?", [entry_id]).fetchone()
    assert tuple(row) == entry_index_row(stored)


class Fetcher:
    async def fetch(self, request):
        return FetchResult(request.url, "ok", 200, request.url.encode(), {})


class Parser(StubParser):
    """Each feed's own entries, folded as the parser processes fold them."""

    def __init__(self, per_feed: int) -> None:
        self.per_feed = per_feed

    async def parse(self, url, body, headers, known=None):
        entries = tuple(entry(f"{url}#{i}", f"Nestlé {i}") for i in range(self.per_feed))
        plain = ParsedFeed("t", None, None, None, entries)
        return FoldedFeed(**vars(plain), folded=tuple(fold_entry(e) for e in entries))


def test_feeds_sharing_a_commit_are_indexed_from_their_folds(monkeypatch):
    """Every feed of a shared commit keeps its rows before the first of them indexes the
    backlog: no entry is folded again from the database."""
    import veille.store.search as store_search

    urls = [f"https://f{i}.example/rss" for i in range(6)]
    per_feed = INDEX_BATCH // 4  # the batch fills before the last feeds resume
    store = Store.memory()
    store.sync_feeds([FeedSource(u) for u in urls])
    folded_again: list[object] = []
    real_index_row = store_search.index_row
    monkeypatch.setattr(store_search, "index_row",
                        lambda *a: folded_again.append(a) or real_index_row(*a))
    feed_pass = FeedPass(settings_from_toml({}, None, {"HOME": "/tmp"}), store, Fetcher(),
                         Parser(per_feed), Matcher([compile_watchlist("n", "nestlé")]),
                         lambda: NOW, random.Random(1))
    summary = asyncio.run(feed_pass.run(store.feeds()))
    assert summary.count("ok") == len(urls)
    store.index_pending()
    assert store.index_backlog() == 0 and not folded_again
    for stored in store.entries(limit=None):
        row = store.db.execute("SELECT title, body, author, source, category FROM "
                               "entry_search WHERE rowid = ?", [stored.id]).fetchone()
        assert tuple(row) == entry_index_row(stored)
