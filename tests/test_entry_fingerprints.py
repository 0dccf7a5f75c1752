"""Items the store has already are left unread by the next parse of their feed: the same
entries stored, matched and alerted as when every item is read, for less work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from veille import parse as parse_module
from veille.models import ParsedFeed
from veille.parse import parse_fast_only, parse_feed
from veille.store import Store

from .conftest import FeedServer, Workspace, rss

URL = "https://fil.example/feed"
XML = {"content-type": "application/xml"}


def item(n: int, text: str = "") -> dict[str, str]:
    return {"title": f"Article {n}", "guid": f"urn:a:{n}", "link": f"https://fil.example/{n}",
            "description": f"<p>Nestlé, épisode {n}. {text}</p>"}


def doc(*items: dict[str, str], extra: str = "", after: str = "") -> bytes:
    body = rss(list(items), extra=extra)
    return body.replace("</channel>", f"{after}</channel>").encode()


def known_of(parsed: ParsedFeed | object) -> dict[str, str]:
    assert isinstance(parsed, ParsedFeed)
    return {e.fingerprint: e.key for e in parsed.entries if e.fingerprint}


def keys(parsed: ParsedFeed | object) -> list[str]:
    assert isinstance(parsed, ParsedFeed)
    return [e.key for e in parsed.entries]


def test_known_items_are_left_out_and_the_others_read_as_usual():
    first = parse_feed(URL, doc(item(2), item(1)), XML)
    known = known_of(first)
    assert len(known) == 2
    body = doc(item(3), item(2), item(1, text="corrigé"))
    later = parse_feed(URL, body, XML, known=known)
    # the new item and the edited one are read; the unchanged one is not
    assert keys(later) == ["id:urn:a:3", "id:urn:a:1"]
    full = parse_feed(URL, body, XML)
    assert isinstance(later, ParsedFeed) and isinstance(full, ParsedFeed)
    assert later.entries == (full.entries[0], full.entries[2])
    assert [e.fingerprint for e in later.entries] == [full.entries[0].fingerprint,
                                                      full.entries[2].fingerprint]
    assert parse_fast_only(URL, body, XML, known) == later


def test_a_fingerprint_depends_on_the_document_around_the_item():
    """The feed's language (an item without its own takes it), its URL (relative links) and
    the parser's version are part of what an item says."""
    plain = known_of(parse_feed(URL, doc(item(1)), XML))
    french = known_of(parse_feed(URL, doc(item(1), extra="<language>fr</language>"), XML))
    elsewhere = known_of(parse_feed("https://autre.example/feed", doc(item(1)), XML))
    assert len({*plain, *french, *elsewhere}) == 3
    # the language read after the items: they are all read again, not skipped
    late = doc(item(1), after="<language>fr</language>")
    again = parse_feed(URL, late, XML, known=known_of(parse_feed(URL, late, XML)))
    assert keys(again) == ["id:urn:a:1"]


def test_an_item_before_feed_level_elements_is_read_all_the_same():
    """The reader carries some state from an item to what follows it (feedparser's title
    depth): only the trailing run of items may be left out."""
    body = doc(item(2), item(1), after="<title>Titre tardif</title>")
    first = parse_feed(URL, body, XML)
    again = parse_feed(URL, body, XML, known=known_of(first))
    assert keys(again) == keys(first)
    assert isinstance(again, ParsedFeed) and isinstance(first, ParsedFeed)
    assert again.title == first.title


def test_a_repeated_entry_after_a_known_one_stays_dropped():
    """A feed that repeats an entry keeps the first; when the first is left out as known,
    the repeat must not take its place."""
    known = known_of(parse_feed(URL, doc(item(1)), XML))
    twice = doc(item(1), {**item(1), "title": "Article 1, doublon"})
    assert keys(parse_feed(URL, twice, XML, known=known)) == []
    assert keys(parse_feed(URL, twice, XML)) == ["id:urn:a:1"]


def test_feedparser_documents_carry_no_fingerprint():
    declined = doc(item(1)).replace(b"<rss ", b'<!DOCTYPE rss SYSTEM "x.dtd">\n<rss ', 1)
    parsed = parse_feed(URL, declined, XML)
    assert isinstance(parsed, ParsedFeed) and parsed.entries[0].fingerprint is None


def test_a_fetch_reads_only_the_new_items_and_stores_the_same(
        feed_server: FeedServer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    """Against a real server: the second poll of a feed that gained one item reads that
    item alone; what is stored is what a full read stores."""
    url = feed_server.serve("/f.xml", doc(*(item(n) for n in range(5, 0, -1))))
    workspace.write_feeds([url])
    workspace.write_watchlists('[[watchlist]]\nname = "nestle"\nquery = "nestlé"\n')
    workspace.run("fetch")
    read: list[str] = []
    entry = parse_module._entry
    monkeypatch.setattr(parse_module, "_entry",
                        lambda e, language: read.append(e["id"]) or entry(e, language))
    feed_server.serve("/f.xml", doc(*(item(n) for n in range(6, 0, -1))))
    out = workspace.run("fetch").output
    assert "1 new entries" in out or "1 new entry" in out, out
    assert read == ["urn:a:6"]
    db = Path(workspace.root / "var" / "veille.db")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, fingerprint FROM entries ORDER BY key").fetchall()
    assert len(rows) == 6 and all(fp for _, fp in rows)
    store = Store.open(db)
    try:
        assert len(store.known_items(url)) == 6
    finally:
        store.close()


def test_entries_stored_without_a_fingerprint_get_one_when_their_feed_changes(
        feed_server: FeedServer, workspace: Workspace):
    """A database from before fingerprints (or entries the full parser read): the next
    change of the feed records them, without storing the entries again."""
    url = feed_server.serve("/f.xml", doc(item(2), item(1)))
    workspace.write_feeds([url])
    workspace.run("fetch")
    db = Path(workspace.root / "var" / "veille.db")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE entries SET fingerprint = NULL")
        changed_before = conn.execute("SELECT sum(changes) FROM entries").fetchone()[0]
    feed_server.serve("/f.xml", doc(item(3), item(2), item(1)))
    workspace.run("fetch")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT fingerprint, changes FROM entries").fetchall()
    assert len(rows) == 3 and all(fp for fp, _ in rows)
    assert sum(c for _, c in rows) == changed_before
