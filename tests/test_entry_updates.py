"""Parser changes are not news, hash-only updates are capped, and a plan made outside the
write transaction never overwrites what another writer stored meanwhile."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlite_utils

from veille.models import FeedSource, ParsedEntry
from veille.store import Store, migrations
from veille.store.entries import MAX_HASH_UPDATES

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def with_feed(store: Store) -> Store:
    store.sync_feeds([FeedSource("https://f")])
    return store


def entry(key: str = "a", title: str = "Nestlé ferme une usine", summary: str = "",
          updated: datetime | None = None) -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=title, link=None, author=None, published=NOW,
                       updated=updated, summary_html=summary, summary_text=summary,
                       content_html="", content_text="")


def test_a_change_made_by_another_parser_is_stored_silently():
    store = with_feed(Store.memory())
    [new] = store.upsert_entries("https://f", [entry()], NOW, parser="fp-1")
    assert new.new
    # the same article, rendered differently by a new parser version: stored, not news
    later = NOW + timedelta(hours=1)
    assert store.upsert_entries("https://f", [entry(summary="<p>x</p>")], later,
                                parser="fp-2") == []
    [stored] = store.entries()
    assert stored.summary_text == "<p>x</p>" and stored.changes == 0
    # a real edit under the same parser is still a change, and is matched again
    [changed] = store.upsert_entries("https://f", [entry(title="Nestlé rouvre l'usine",
                                                         summary="<p>x</p>")],
                                     later, parser="fp-2")
    assert not changed.new and changed.entry.changes == 1 and changed.entry.id == stored.id


def test_hash_only_updates_are_capped():
    store = with_feed(Store.memory())
    store.upsert_entries("https://f", [entry()], NOW, parser="p")
    for i in range(MAX_HASH_UPDATES):
        assert store.upsert_entries("https://f", [entry(summary=f"vues : {i}")],
                                    NOW + timedelta(minutes=i + 1), parser="p")
    # the feed re-renders the entry on every fetch (a view counter): no more rewrites
    assert store.upsert_entries("https://f", [entry(summary="vues : 999")], NOW,
                                parser="p") == []
    assert store.entries()[0].summary_text == f"vues : {MAX_HASH_UPDATES - 1}"
    # an edit the feed dates (a new <updated>) always goes through
    [dated] = store.upsert_entries("https://f", [entry(summary="corrigé", updated=NOW)], NOW,
                                   parser="p")
    assert dated.entry.summary_text == "corrigé"


def test_a_plan_overtaken_by_another_writer_is_dropped(tmp_path):
    store = with_feed(Store.open(tmp_path / "v.db"))
    other = Store.open(tmp_path / "v.db")
    plan = store.plan_entries("https://f", [entry()], NOW, parser="p")
    other.upsert_entries("https://f", [entry()], NOW, parser="p")  # a `veille fetch` meanwhile
    with store.transaction():
        assert store.write_entries("https://f", plan, NOW) == {}
    [stored] = store.entries()
    plan = store.plan_entries("https://f", [entry(title="v2")], NOW, parser="p")
    other.upsert_entries("https://f", [entry(title="v3")], NOW, parser="p")
    with store.transaction():
        assert store.write_entries("https://f", plan, NOW) == {}
    assert store.entries()[0].title == "v3"
    store.close()
    other.close()


def test_entries_from_the_previous_schema_are_not_news_after_a_parser_change(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m003_hash_versions")
    db.execute("INSERT INTO feeds (url) VALUES ('https://f')")
    e = entry()
    db.execute("INSERT INTO entries (feed_url, key, title, published, content_hash, first_seen) "
               "VALUES ('https://f', 'a', ?, '2026-11-25T12:00:00.000000Z', ?, "
               "'2026-11-25T12:00:00.000000Z')", [e.title, e.content_hash])
    db.conn.commit()
    db.conn.close()
    store = Store.open(path)
    assert store.upsert_entries("https://f", [e], NOW, parser="p") == []  # unchanged
    assert store.upsert_entries("https://f", [replace(e, summary_html="<p></p>")], NOW,
                                parser="p") == []
    assert store.entries()[0].summary_html == "<p></p>"
    store.close()


def test_every_thread_has_its_own_connection(tmp_path):
    import threading

    store = with_feed(Store.open(tmp_path / "v.db"))
    seen: list[object] = []

    def work(key: str) -> None:
        seen.append(store.db.conn)
        store.upsert_entries("https://f", [entry(key)], NOW, parser="p")

    threads = [threading.Thread(target=work, args=(k,)) for k in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen} | {id(store.db.conn)}) == 4
    assert sorted(e.key for e in store.entries()) == ["a", "b", "c"]
    store.close()
