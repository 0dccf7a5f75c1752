"""Matching at ingest, silent catch-up, backfill and the watch/digest commands, end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from .conftest import FeedServer, Workspace, pubdate, rss

NOW = datetime.now(UTC)

WATCHLISTS = """
[[watchlist]]
name = "parti-pirate"
query = '"parti pirate" OR piratenpartei -"pirate bay"'

[[watchlist]]
name = "nestle"
query = 'nestlé'
schedule = "instant"
"""


def item(i: int, title: str, age: timedelta | None = None, text: str = "") -> dict[str, str]:
    out = {"title": title, "link": f"https://ex.fr/{i}", "guid": f"g{i}", "description": text}
    if age is not None:
        out["pubDate"] = pubdate(NOW - age)
    return out


def pending(ws: Workspace) -> dict[str, list[dict]]:
    data = json.loads(ws.run("digest", "--format", "json").stdout)
    return {w["name"]: w["matches"] for w in data["watchlists"]}


def test_first_fetch_records_old_matches_silently(feed_server: FeedServer, workspace: Workspace):
    workspace.write_watchlists(WATCHLISTS)
    url = feed_server.serve("/f.xml", rss([
        item(1, "Le Parti pirate dépose ses listes", timedelta(hours=2)),
        item(2, "Le Parti pirate en 2019", timedelta(days=30)),
        item(3, "Nestlé sans date"),
        item(4, "The Pirate Bay et le parti pirate", timedelta(hours=1)),
    ]))
    workspace.write_feeds([url])
    out = workspace.run("fetch").stdout
    assert "3 new matches" in out
    found = pending(workspace)
    assert [m["title"] for m in found["parti-pirate"]] == ["Le Parti pirate dépose ses listes"]
    assert [m["title"] for m in found["nestle"]] == ["Nestlé sans date"]
    m = found["parti-pirate"][0]
    assert m["terms"] == ['"parti pirate"'] and m["link"] == "https://ex.fr/1"
    assert {"title", "link", "feed", "published", "first_seen", "terms", "snippet"} <= m.keys()
    # the silent one is still visible to `watch test`
    tested = json.loads(workspace.run("watch", "test", '"parti pirate"', "--format",
                                      "json").stdout)
    assert len(tested) == 3
    # after the first fetch, an old-dated new entry is no longer silent
    feed_server.serve("/f.xml", rss([item(5, "Parti pirate : archives", timedelta(days=10))]))
    workspace.run("fetch")
    assert len(pending(workspace)["parti-pirate"]) == 2


def test_changed_entries_are_rematched_but_never_twice(feed_server, workspace):
    workspace.write_watchlists(WATCHLISTS)
    url = feed_server.serve("/f.xml", rss([item(1, "Nestlé ferme", timedelta(hours=1)),
                                          item(2, "Rien", timedelta(hours=1))]))
    workspace.write_feeds([url])
    workspace.run("fetch")
    feed_server.serve("/f.xml", rss([item(1, "Nestlé ferme une usine", timedelta(hours=1)),
                                     item(2, "Nestlé aussi", timedelta(hours=1))]))
    out = workspace.run("fetch").stdout
    assert "2 updated, 1 new matches" in out
    assert sorted(m["title"] for m in pending(workspace)["nestle"]) == [
        "Nestlé aussi", "Nestlé ferme une usine"]


def test_new_watchlists_apply_from_then_on_and_backfill(feed_server, workspace):
    url = feed_server.serve("/f.xml", rss([item(1, "Nestlé récent", timedelta(hours=1)),
                                          item(2, "Nestlé ancien", timedelta(days=5))]))
    workspace.write_feeds([url])
    workspace.run("fetch")
    workspace.write_watchlists(WATCHLISTS)
    assert pending(workspace)["nestle"] == []
    out = workspace.run("watch", "backfill", "nestle", "--since", "30d").stdout
    assert "2 entries examined, 2 new matches" in out
    assert [m["title"] for m in pending(workspace)["nestle"]] == ["Nestlé récent"]
    assert "0 new matches" in workspace.run("watch", "backfill", "nestle").stdout
    listing = json.loads(workspace.run("watch", "list", "--format", "json").stdout)
    assert {r["name"]: r["matches_24h"] for r in listing} == {"parti-pirate": 0, "nestle": 1}


def test_watch_check_reports_errors(workspace):
    workspace.write_watchlists(WATCHLISTS)
    assert "2 watchlists OK" in workspace.run("watch", "check").stdout
    workspace.write_watchlists('[[watchlist]]\nname = "x"\nquery = "(a"\n')
    result = workspace.run("watch", "check", code=2)
    assert result.stderr == "veille: watchlists.toml: x: query column 1: unbalanced parenthesis\n"
    workspace.write_watchlists('[[watchlist]]\nname = "x"\nquery = "a"\nschedule = "souvent"\n')
    assert "x: schedule: 'souvent': expected" in workspace.run("watch", "check", code=2).stderr
    workspace.write_watchlists('[[watchlist]]\nname = "x"\nquery = "a"\nchannels = ["equip"]\n')
    assert "no channel named 'equip'" in workspace.run("watch", "check", code=2).stderr


def test_watch_test_bad_query_and_text_output(feed_server, workspace):
    url = feed_server.serve("/f.xml", rss([item(1, "L’Oréal rachète", timedelta(hours=1),
                                                "Le groupe L’Oréal annonce un rachat.")]))
    workspace.write_feeds([url])
    workspace.run("fetch")
    out = workspace.run("watch", "test", "l'oréal").stdout
    assert "L’Oréal rachète" in out and "1 matches" in out
    err = workspace.run("watch", "test", '"oops', code=2).stderr
    assert err == "veille: query: query column 1: unterminated quote\n"


def test_terminal_highlighting_marks_the_matched_words():
    from veille.cli.watch import _highlight

    text = "Le Parti pirate et L’Oréal"
    out = _highlight(text, ('"parti pirate"', "l'oréal"), color=True)
    assert "\x1b[" in out and "Parti pirate" in out
    plain = out.replace("\x1b[33m\x1b[1m", "[").replace("\x1b[0m", "]")
    assert plain == "Le [Parti pirate] et [L’Oréal]"
    assert _highlight(text, ('"parti pirate"',), color=False) == text
