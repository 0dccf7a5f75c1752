"""Aggregator items credited to their outlet: parse, store (m008), `source:`, digests, stories."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from veille.models import FeedSource, ParsedEntry
from veille.outlets import outlet_of, strip_outlet
from veille.store import Store, migrations

from .conftest import FeedServer, Workspace, pubdate

NOW = datetime.now(UTC)


@pytest.mark.parametrize("title, outlet, expected", [
    ("Le Parti pirate dépose ses listes - Le Monde", "Le Monde", "Le Parti pirate dépose ses listes"),
    ("Titre — le monde", "Le Monde", "Titre"),
    ("Un titre - avec un tiret - France 24", "France 24", "Un titre - avec un tiret"),
    ("Un titre - avec un tiret", "France 24", "Un titre - avec un tiret"),
    ("Le Monde", "Le Monde", "Le Monde"),  # nothing left: kept whole
    ("Titre - Le Monde", None, "Titre - Le Monde"),
])
def test_strip_outlet(title, outlet, expected):
    assert strip_outlet(title, outlet) == expected


def test_outlet_of_feedparser_source():
    assert outlet_of({"title": " Le  Monde ", "href": "https://www.lemonde.fr"}) == \
        ("Le Monde", "https://www.lemonde.fr")
    assert outlet_of({"href": "https://www.lemonde.fr/"}) == ("lemonde.fr", "https://www.lemonde.fr/")
    assert outlet_of({"title": "X", "href": "javascript:alert(1)"}) == ("X", None)
    assert outlet_of(None) == (None, None)


def test_m008_migrates_a_database_of_the_previous_schema(tmp_path):
    path = tmp_path / "old.db"
    import sqlite_utils
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m008_entry_outlet")
    db.execute("INSERT INTO feeds (url) VALUES ('https://f')")
    db.execute("INSERT INTO entries (feed_url, key, title, published, content_hash, first_seen) "
               "VALUES ('https://f', 'k', 'Ancien', '2026-11-01T00:00:00.000000Z', 'h', "
               "'2026-11-01T00:00:00.000000Z')")
    db.conn.commit()
    db.conn.close()
    store = Store.open(path)
    assert "m008_entry_outlet" in [m.name for m in migrations.applied(store.db)]
    [old] = store.entries()
    assert old.title == "Ancien" and old.outlet is None
    credited = ParsedEntry(key="n", guid="n", title="Nouveau", link=None, author=None,
                           published=NOW, updated=None, summary_html="", summary_text="",
                           content_html="", content_text="", outlet="Le Monde",
                           outlet_url="https://www.lemonde.fr")
    store.sync_feeds([FeedSource("https://f")])
    [new] = store.upsert_entries("https://f", [credited], NOW)
    assert new.entry.outlet == "Le Monde"
    stored = {e.key: e for e in store.entries()}
    assert stored["n"].outlet == "Le Monde" and stored["n"].outlet_url == "https://www.lemonde.fr"
    store.close()
    with sqlite3.connect(path) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(entries)")]
    assert "outlet" in columns and "outlet_url" in columns


def google_news(items: list[tuple[str, str, str, str]],
                base: str = "https://news.google.com") -> str:
    """A document shaped like https://news.google.com/rss/search?q=… answers: opaque links,
    the outlet in <source> and after " - " in the title, the description a link plus it."""
    parts = []
    for i, (title, outlet, site, when) in enumerate(items):
        link = f"{base}/rss/articles/CBMi{i}QUFVX3lxTE?oc=5"
        parts.append(
            f"<item><title>{title} - {outlet}</title><link>{link}</link>"
            f'<guid isPermaLink="false">CBMi{i}</guid><pubDate>{when}</pubDate>'
            f'<description>&lt;a href="{link}" target="_blank"&gt;{title}&lt;/a&gt;'
            f'&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;{outlet}&lt;/font&gt;</description>'
            f'<source url="{site}">{outlet}</source></item>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<rss xmlns:media="http://search.yahoo.com/mrss/" version="2.0"><channel>'
            '<generator>NFE/5.0</generator><title>"parti pirate" - Google Actualités</title>'
            '<link>https://news.google.com/search?q=%22parti+pirate%22&amp;hl=fr</link>'
            '<language>fr</language><description>Google Actualités</description>'
            + "".join(parts) + "</channel></rss>")


WATCHLISTS = """
[[watchlist]]
name = "domaine"
query = 'source:lemonde.fr'

[[watchlist]]
name = "nom"
query = 'source:"le monde"'

[[watchlist]]
name = "pirates"
query = '"parti pirate"'
"""


@pytest.fixture
def credited(feed_server: FeedServer, workspace: Workspace) -> tuple[str, str, Workspace]:
    when = pubdate(NOW - timedelta(minutes=5))
    gn = feed_server.serve("/gn", google_news([
        ("Le Parti pirate dépose ses listes pour les européennes", "Le Monde",
         "https://www.lemonde.fr", when),
        ("Le Parti pirate en campagne à Rennes", "Ouest-France", "https://www.ouest-france.fr",
         when)], base=feed_server.url("")))  # opaque links that would reach the test server
    direct = feed_server.serve("/lemonde", (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Le Monde.fr</title>'
        "<item><title>Le Parti pirate dépose ses listes pour les européennes</title>"
        "<link>https://www.lemonde.fr/politique/article/parti-pirate.html</link>"
        f"<guid>lm-1</guid><pubDate>{pubdate(NOW - timedelta(minutes=1))}</pubDate>"
        "<description>Le Parti pirate dépose ses listes pour les européennes</description>"
        "</item></channel></rss>"))
    workspace.write_feeds([gn, direct])
    workspace.write_watchlists(WATCHLISTS)
    workspace.run("fetch")
    return gn, direct, workspace


def test_google_news_items_are_credited_to_their_outlet(credited, feed_server):
    gn, _, ws = credited
    entries = {e["title"]: e for e in json.loads(ws.run("entries", "--format", "json").stdout)
               if e["feed"] == gn}
    assert set(entries) == {"Le Parti pirate dépose ses listes pour les européennes",
                            "Le Parti pirate en campagne à Rennes"}
    # the opaque aggregator link is kept as it is, and never asked for
    assert all(e["link"].startswith(feed_server.url("/rss/articles/CBMi"))
               for e in entries.values())
    assert [r.path for r in feed_server.log if "articles" in r.path] == []
    assert {e["outlet"] for e in entries.values()} == {"Le Monde", "Ouest-France"}


def test_source_scope_and_digest_items_name_the_outlet(credited):
    gn, direct, ws = credited
    digest = json.loads(ws.run("digest", "--format", "json").stdout)
    lists = {w["name"]: w for w in digest["watchlists"]}
    # source:lemonde.fr and source:"le monde" find Le Monde's article however it came
    for name in ("domaine", "nom"):
        assert lists[name]["count"] == 2, lists[name]
        assert {m["outlet"] for m in lists[name]["matches"]} <= {"Le Monde", None}
    # grouped into one story: Le Monde's article, seen twice, is not "also in" Le Monde
    pirates = lists["pirates"]["matches"]
    by_title = {m["title"]: m for m in pirates}
    story = by_title["Le Parti pirate dépose ses listes pour les européennes"]
    assert story["mentions"] == 2 and story["also_in"] == []
    rennes = by_title["Le Parti pirate en campagne à Rennes"]
    assert rennes["outlet"] == "Ouest-France" and rennes["feed"] and rennes["feed_url"] == gn
    text = ws.run("digest", "--format", "text").stdout
    assert "Ouest-France (via " in text, text


def test_webhook_items_carry_the_outlet():
    from veille.digest import DigestItem, item_json
    item = DigestItem(title="t", link=None, feed="Google News", published=NOW, first_seen=NOW,
                      terms=(), snippet="", outlet="Le Monde")
    assert item_json(item)["outlet"] == "Le Monde" and item_json(item)["feed"] == "Google News"


def test_a_reports_outlets_are_the_credited_publishers(credited):
    """In a report, Google News' items count for Le Monde and Ouest-France (not for the
    aggregator's feed), and the story Le Monde published itself and Google News carried was
    in one outlet, not two."""
    gn, direct, ws = credited
    store = Store.open(ws.root / "var" / "veille.db")
    since, until = NOW - timedelta(days=1), NOW + timedelta(minutes=1)
    try:
        outlets = {(url, outlet): n for w, url, outlet, n in store.outlet_mentions(
            ["pirates"], since, until)}
        stories = store.story_counts(["pirates"], since, until)["pirates"]
    finally:
        store.close()
    assert outlets == {(gn, "Le Monde"): 1, (gn, "Ouest-France"): 1, (direct, None): 1}
    assert sorted((s.mentions, s.outlets) for s in stories) == [(1, 1), (2, 1)]
