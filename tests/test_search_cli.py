"""`veille search` end to end: feeds from a real HTTP server, fetched, then searched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from veille.store import Store

from .conftest import FeedServer, Workspace, pubdate, rss

NOW = datetime.now(UTC)

WATCHLISTS = """
[[watchlist]]
name = "nestle"
query = 'nestlé'

[[watchlist]]
name = "danone"
query = 'danone'
"""

ITEM_FIELDS = {"title", "link", "feed", "feed_url", "published", "first_seen", "terms", "snippet"}


def item(i: int, title: str, text: str = "", hours: float = 1, link: str = "") -> dict[str, str]:
    return {"title": title, "link": link or f"https://ex.fr/{i}", "guid": f"g{i}",
            "description": text, "pubDate": pubdate(NOW - timedelta(hours=hours))}


def fetched(feed_server: FeedServer, workspace: Workspace) -> tuple[str, str]:
    workspace.write_watchlists(WATCHLISTS)
    press = feed_server.serve("/presse.xml", rss([
        item(1, "Nestlé rappelle des pizzas Buitoni", "Le groupe suisse rappelle ses pizzas "
             "surgelées après des cas d’intoxication.", hours=3,
             link="https://www.lemonde.fr/economie/nestle-pizzas"),
        item(2, "L’usine Danone de Saint-Étienne ferme", "Les salariés de Danone…", hours=2),
        item(3, "Le cœur du problème", "Œuvre collective, sans marque.", hours=30),
    ], title="La Presse régionale"))
    blog = feed_server.serve("/blog.xml", rss([
        item(11, "Nestlé rappelle des pizzas Buitoni", "Reprise de l’article du Monde.",
             hours=1, link="https://www.lemonde.fr/economie/nestle-pizzas?utm_source=rss"),
        item(12, "Danone et Nestlé au salon", "Les deux groupes…", hours=5),
    ], title="Le blog conso"))
    workspace.write_feeds([press, blog])
    workspace.run("fetch")
    return press, blog


def search_json(workspace: Workspace, *args: str) -> list[dict]:
    return json.loads(workspace.run("search", *args, "--format", "json").stdout)


def test_search_groups_stories_and_gives_digest_items(feed_server, workspace):
    fetched(feed_server, workspace)
    items = search_json(workspace, "NESTLE pizza*")
    assert len(items) == 1  # the same article in two feeds is one story
    [story] = items
    assert story.keys() >= ITEM_FIELDS
    assert story["title"] == "Nestlé rappelle des pizzas Buitoni"
    assert story["feed"] == "La Presse régionale" and story["also_in"] == ["Le blog conso"]
    assert story["mentions"] == 2 and story["terms"] == ["NESTLE", "pizza*"]
    assert "pizzas" in story["snippet"]
    assert datetime.fromisoformat(story["published"]) < datetime.fromisoformat(
        story["first_seen"])


def test_fetch_leaves_no_backlog(feed_server, workspace):
    """`veille fetch` indexes its pass's entries before it exits (the daemon every 5 s)."""
    fetched(feed_server, workspace)
    store = Store.open(workspace.root / "var" / "veille.db")
    try:
        assert store.index_backlog() == 0 and store.search_index_size() > 0
    finally:
        store.close()


def test_search_speaks_the_watchlist_language(feed_server, workspace):
    fetched(feed_server, workspace)
    titles = lambda *args: [i["title"] for i in search_json(workspace, *args)]  # noqa: E731
    assert titles("coeur") == ["Le cœur du problème"]
    assert titles('"saint-etienne" OR (danone -salariés)') == [
        "L’usine Danone de Saint-Étienne ferme", "Danone et Nestlé au salon"]
    assert titles("source:conso danone") == ["Danone et Nestlé au salon"]
    assert titles("/Saint-[ÉE]tienne/") == ["L’usine Danone de Saint-Étienne ferme"]


def test_search_filters(feed_server, workspace):
    press, blog = fetched(feed_server, workspace)
    assert [i["title"] for i in search_json(workspace, "danone", "--feed", blog)] == [
        "Danone et Nestlé au salon"]
    # --since counts from when veille first saw the entry: everything was seen just now
    assert len(search_json(workspace, "cœur OR danone", "--since", "1h")) == 3
    assert search_json(workspace, "cœur", "--since", "2999-01-01") == []
    # the watchlist "danone" matched two entries; "salon" is in one of them
    assert [i["title"] for i in search_json(workspace, "salon OR ferme", "--watchlist",
                                            "danone")] == [
        "L’usine Danone de Saint-Étienne ferme", "Danone et Nestlé au salon"]
    assert search_json(workspace, "coeur", "--watchlist", "danone") == []
    # --limit keeps the last stored: within a feed, the order of its document
    limited = search_json(workspace, "danone OR nestlé", "--limit", "1", "--feed", blog)
    assert [i["title"] for i in limited] == ["Danone et Nestlé au salon"]


def test_search_text_output(feed_server, workspace):
    _, blog = fetched(feed_server, workspace)
    out = workspace.run("search", "danone OR nestlé", "--limit", "2", "--feed", blog).stdout
    assert "Danone et Nestlé au salon  — Le blog conso" in out
    assert "Nestlé rappelle des pizzas Buitoni  — Le blog conso" in out
    assert "https://www.lemonde.fr/economie/nestle-pizzas" in out  # tracking parameter gone
    assert "2 entries in 2 stories" in out
    out = workspace.run("search", "danone OR nestlé", "--limit", "2").stdout
    assert "2 entries in 2 stories (stopped at --limit 2; there may be more)" in out
    out = workspace.run("search", "pizza*").stdout
    assert "(also in Le blog conso)" in out and "2 entries in 1 story" in out
    assert "0 entries in 0 stories" in workspace.run("search", "lactalis").stdout


def test_search_errors_are_one_line(feed_server, workspace):
    fetched(feed_server, workspace)
    bad = workspace.run("search", '"nestlé', code=2)
    assert "column 1" in bad.stderr and "unterminated quote" in bad.stderr
    assert "Traceback" not in bad.output
    assert "no such watchlist" in workspace.run("search", "x", "--watchlist", "nope",
                                                code=2).stderr
    assert "no such feed" in workspace.run("search", "x", "--feed", "https://nope/",
                                           code=2).stderr
    assert "--since" in workspace.run("search", "x", "--since", "hier", code=2).stderr


def test_watch_test_and_search_agree(feed_server, workspace):
    fetched(feed_server, workspace)
    for query in ("nestlé", "danone -salon", "/pizzas?/"):
        tested = json.loads(workspace.run("watch", "test", query, "--format", "json").stdout)
        searched = search_json(workspace, query, "--since", "30d")
        assert len(tested) == sum(i["mentions"] for i in searched) > 0
        assert {t["title"] for t in tested} == {i["title"] for i in searched}


def test_backfill_examines_only_what_the_index_lets_through(feed_server, workspace):
    fetched(feed_server, workspace)
    workspace.write_watchlists(WATCHLISTS + "\n[[watchlist]]\nname = \"coeur\"\n"
                               "query = 'cœur OR pizza*'\n")
    out = workspace.run("watch", "backfill", "coeur", "--since", "30d").stdout
    assert "coeur: 3 entries examined, 3 new matches" in out  # of the 5 stored
