"""Renaming a watchlist and moving a feed keep their history; removed watchlists are reported."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import veille.renames
from veille.errors import OpmlError, WatchlistError
from veille.opml import OpmlDocument
from veille.renames import move_feed, rename_watchlist
from veille.store import Store
from veille.store.moves import FEED_COLUMNS, WATCHLIST_COLUMNS, WATCHLIST_META
from veille.watchlists import load_watchlists

from .conftest import FeedServer, Workspace, pubdate, rss

NOW = datetime.now(UTC)

WATCHLISTS = '''\
# Nos veilles — à relire chaque trimestre
[[watchlist]]
name = "parti-pirate"   # le parti, pas la baie
query = '"parti pirate" -"pirate bay"'
schedule = "daily 08:00"

[[watchlist]]
# la marque, toutes filiales
description = \"\"\"
name = 'nestle'
\"\"\"
name = 'nestle'   # historique
query = 'nestlé'
'''
HOOKED = WATCHLISTS.replace("query = 'nestlé'", "query = 'nestlé'\nchannels = [\"hook\"]")


def item(i: int, title: str, age: timedelta = timedelta(hours=1)) -> dict[str, str]:
    return {"title": title, "link": f"https://ex.fr/{i}", "guid": f"g{i}",
            "pubDate": pubdate(NOW - age)}


ITEMS = [item(1, "Nestlé ferme une usine"), item(2, "Le Parti pirate et Nestlé"),
         item(3, "Rien à voir")]


def setup(ws: Workspace, server: FeedServer, config: str = "") -> str:
    if config:
        ws.write_config(config)
    ws.write_watchlists(WATCHLISTS)
    url = server.serve("/f.xml", rss(ITEMS))
    ws.write_feeds([url])
    assert "3 new entries" in ws.run("fetch").stdout
    return url


def db(ws: Workspace) -> sqlite3.Connection:
    return sqlite3.connect(ws.root / "var" / "veille.db")


def snapshot(ws: Workspace) -> tuple[str, list, list, list, list]:
    """The watchlists file and every table a rename or a move may touch."""
    with db(ws) as conn:
        return ((ws.root / "watchlists.toml").read_text(encoding="utf-8"),
                conn.execute("SELECT * FROM matches ORDER BY id").fetchall(),
                conn.execute("SELECT * FROM deliveries ORDER BY id").fetchall(),
                conn.execute("SELECT * FROM meta ORDER BY key").fetchall(),
                conn.execute("SELECT url, etag FROM feeds ORDER BY url").fetchall())


def pending(ws: Workspace) -> dict[str, list[str]]:
    data = json.loads(ws.run("digest", "--format", "json").stdout)
    return {w["name"]: [m["title"] for m in w["matches"]] for w in data["watchlists"]}


def hook_config(server: FeedServer) -> str:
    return f'[channels.hook]\ntype = "webhook"\nurl = "{server.url("/hook")}"\n'


# --- watch rename -----------------------------------------------------------------------------

def test_rename_carries_matches_failed_batch_and_digest_slots(feed_server, workspace):
    setup(workspace, feed_server, hook_config(feed_server))
    workspace.write_watchlists(HOOKED)
    feed_server.routes["/hook"] = (500, {}, b"down")
    workspace.run("digest", "--send", "--watchlist", "nestle", code=1)
    first = json.loads(feed_server.requests("/hook")[0].body)
    with db(workspace) as conn:
        conn.execute("INSERT INTO meta VALUES ('digest_last:nestle', '2026-01-01T07:00:00Z'),"
                     " ('digest_next:nestle', '2026-01-02T07:00:00Z'),"
                     " ('digest_next:nestle-fr', 'stale')")

    out = workspace.run("watch", "rename", "nestle", "nestle-fr").stdout
    assert out == "renamed nestle to nestle-fr: 2 matches, 2 deliveries pending, " \
                  "2 digest times kept\n"

    text = (workspace.root / "watchlists.toml").read_text(encoding="utf-8")
    assert text == HOOKED.replace("name = 'nestle'   #", "name = 'nestle-fr'   #")
    assert "\nname = 'nestle'\n" in text  # the look-alike inside a string is left alone
    assert pending(workspace)["nestle-fr"] == ["Le Parti pirate et Nestlé",
                                               "Nestlé ferme une usine"]
    with db(workspace) as conn:
        assert dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'digest_%'")) == {
            "digest_last:nestle-fr": "2026-01-01T07:00:00Z",
            "digest_next:nestle-fr": "2026-01-02T07:00:00Z"}
        assert conn.execute("SELECT count(*) FROM matches WHERE watchlist = 'nestle'"
                            ).fetchone() == (0,)
    status = json.loads(workspace.run("status", "--format", "json", code=None).stdout)
    assert status["removed_watchlists"] == []

    # the failed batch is retried under the new name, with the same id
    feed_server.routes["/hook"] = (204, {}, b"")
    sent = workspace.run("digest", "--send", "--watchlist", "nestle-fr").stdout
    assert "sent: nestle-fr → hook: 2 matches" in sent
    again = json.loads(feed_server.requests("/hook")[1].body)
    assert again["id"] == first["id"] and again["watchlist"] == "nestle-fr"
    assert "nothing pending" in workspace.run("digest", "--send", "--watchlist",
                                              "nestle-fr").stdout


@pytest.mark.parametrize("args, message", [
    (("nestlé", "x"), "watchlists.toml: nestlé: no such watchlist"),
    (("nestle", "parti-pirate"), "watchlists.toml: parti-pirate: a watchlist of that name "
                                 "already exists"),
    (("nestle", "nestle"), "watchlists.toml: nestle: the new name is the same as the old one"),
    (("nestle", " "), "watchlists.toml: nestle: the new name is empty"),
])
def test_refused_rename_changes_nothing(feed_server, workspace, args, message):
    setup(workspace, feed_server)
    before = snapshot(workspace)
    result = workspace.run("watch", "rename", *args, code=2)
    assert result.stderr == f"veille: {message}\n"
    assert snapshot(workspace) == before


def test_rename_onto_a_name_with_history_is_refused(feed_server, workspace):
    """A watchlist removed from the file keeps its rows: taking its name would mix two
    histories (and UNIQUE (watchlist, entry_id) would fail halfway)."""
    setup(workspace, feed_server)
    workspace.write_watchlists(WATCHLISTS + '\n[[watchlist]]\nname = "ancien"\nquery = "usine"\n')
    workspace.run("watch", "backfill", "ancien")
    workspace.write_watchlists(WATCHLISTS)
    before = snapshot(workspace)
    err = workspace.run("watch", "rename", "nestle", "ancien", code=2).stderr
    assert err == ("veille: watchlists.toml: ancien: the database still holds 1 matches of an "
                   "earlier watchlist of that name; choose another name\n")
    assert snapshot(workspace) == before


def test_failed_file_write_rolls_the_database_back(feed_server, workspace, monkeypatch):
    setup(workspace, feed_server)
    before = snapshot(workspace)

    def refuse(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(veille.renames, "atomic_write", refuse)
    err = workspace.run("watch", "rename", "nestle", "nestle-fr", code=2).stderr
    assert err == "veille: watchlists.toml: cannot write: No space left on device\n"
    assert snapshot(workspace) == before


def test_failed_database_update_leaves_the_file_alone(feed_server, workspace):
    setup(workspace, feed_server)
    with db(workspace) as conn:
        conn.execute("CREATE TRIGGER no_rename BEFORE UPDATE ON matches "
                     "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
    before = snapshot(workspace)
    err = workspace.run("watch", "rename", "nestle", "nestle-fr", code=1).stderr
    database = (workspace.root / "var" / "veille.db").resolve()
    assert err == f"veille: {database}: database error: refused by a trigger\n"
    assert snapshot(workspace) == before


def test_failed_commit_puts_the_old_file_back(tmp_path):
    path = tmp_path / "watchlists.toml"
    path.write_text(WATCHLISTS, encoding="utf-8")
    store = Store.open(tmp_path / "v.db")

    @contextmanager
    def failing_commit():
        outermost = not store.db.conn.in_transaction
        with Store.transaction(store):
            yield
            if outermost:
                assert path.read_text(encoding="utf-8") != WATCHLISTS  # written before commit
                raise sqlite3.OperationalError("database is locked")

    store.transaction = failing_commit  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        rename_watchlist(store, path, "nestle", "nestle-fr")
    assert path.read_text(encoding="utf-8") == WATCHLISTS
    store.close()


@pytest.mark.parametrize("new, line", [
    ('dit "oui"', "name = 'dit \"oui\"'"),
    ("l'oréal", 'name = "l\'oréal"'),
    ("l'\"x\\", 'name = "l\'\\"x\\\\"'),
])
def test_new_names_are_written_as_valid_toml(tmp_path, new, line):
    path = tmp_path / "watchlists.toml"
    path.write_text(WATCHLISTS, encoding="utf-8")
    store = Store.open(tmp_path / "v.db")
    rename_watchlist(store, path, "nestle", new)
    assert f"{line}   # historique\n" in path.read_text(encoding="utf-8")
    assert [w.name for w in load_watchlists(path)] == ["parti-pirate", new]
    store.close()


def test_a_name_not_on_its_own_line_is_refused(tmp_path):
    path = tmp_path / "watchlists.toml"
    path.write_text('watchlist = [{ name = "b", query = "y" }]\n', encoding="utf-8")
    store = Store.open(tmp_path / "v.db")
    with pytest.raises(WatchlistError, match='no line `name = "b"` to edit; rename it by hand'):
        rename_watchlist(store, path, "b", "c")
    assert path.read_text(encoding="utf-8") == 'watchlist = [{ name = "b", query = "y" }]\n'
    store.close()


def test_every_watchlist_keyed_table_and_meta_key_is_carried():
    """Adding a table with a `watchlist` column (say `spikes`), or a meta key named after a
    watchlist, must come with its line in store/moves.py, or renames strand it."""
    store = Store.memory()
    tables = [r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = "
                                             "'table'").fetchall()]
    keyed = {(t, c[1]) for t in tables for c in store.db.execute(f"PRAGMA table_info({t})")
             if c[1] == "watchlist"}
    assert keyed <= set(WATCHLIST_COLUMNS), "add the table to WATCHLIST_COLUMNS"
    referencing = {(t, fk[3]) for t in tables
                   for fk in store.db.execute(f"PRAGMA foreign_key_list({t})") if fk[2] == "feeds"}
    assert referencing <= set(FEED_COLUMNS), "add the column to FEED_COLUMNS"
    source = Path(veille.renames.__file__).parent
    prefixes = {m for f in source.rglob("*.py")
                for m in re.findall(r'_meta\(f"(\w+):\{', f.read_text(encoding="utf-8"))}
    assert prefixes <= set(WATCHLIST_META), "add the meta prefix to WATCHLIST_META"


# --- removed watchlists -----------------------------------------------------------------------

def test_status_reports_a_removed_watchlist_with_pending_matches(feed_server, workspace):
    setup(workspace, feed_server)
    workspace.write_watchlists(WATCHLISTS.split("[[watchlist]]\n# la marque")[0])
    result = workspace.run("status", code=1)
    expected = ("watchlist nestle was removed from watchlists.toml with 2 matches not "
                "delivered (kept: they go out if it comes back)")
    assert f"attention: {expected}" in result.stderr
    report = json.loads(workspace.run("status", "--format", "json", code=1).stdout)
    assert expected in report["attention"]
    assert report["removed_watchlists"] == [{"name": "nestle", "pending": 2}]
    # nothing was lost: the watchlist comes back, its matches are there to deliver
    workspace.write_watchlists(WATCHLISTS)
    assert pending(workspace)["nestle"] == ["Le Parti pirate et Nestlé", "Nestlé ferme une usine"]
    assert "sent: nestle → console: 2 matches" in workspace.run("digest", "--send").stdout
    workspace.write_watchlists(WATCHLISTS.split("[[watchlist]]\n# la marque")[0])
    report = json.loads(workspace.run("status", "--format", "json", code=None).stdout)
    assert report["removed_watchlists"] == []  # delivered: nothing to say


# --- feeds move -------------------------------------------------------------------------------

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- mes flux -->
<opml version="2.0">
  <head>
    <title>Mes flux</title>
  </head>
  <body>
    <outline text="presse">
      <outline text="Premier" xmlUrl="https://a.example/rss" />
      <outline text="Le Fil" title="Le Fil" xmlUrl="{old}" htmlUrl="https://ex.fr/" interval="15m" />
      <outline text="Dernier" xmlUrl="https://z.example/rss" />
    </outline>
  </body>
</opml>
"""

def test_move_keeps_entries_outline_and_matches(feed_server, workspace):
    workspace.write_watchlists(WATCHLISTS)
    old = feed_server.serve("/old.xml", rss(ITEMS))
    (workspace.root / "feeds.opml").write_text(OPML.format(old=old), encoding="utf-8")
    assert "3 new entries, 3 new matches" in workspace.run("fetch", "--feed", old).stdout
    new = feed_server.serve("/new.xml", rss(ITEMS, title="Fil, nouvelle adresse"))  # parsed again

    assert workspace.run("feeds", "move", old, new).stdout == \
        f"moved {old} to {new}: 3 entries kept\n"

    text = (workspace.root / "feeds.opml").read_text(encoding="utf-8")
    assert text == OPML.format(old=new)
    source = next(s for s in OpmlDocument.load(workspace.root / "feeds.opml").sources()
                  if s.url == new)
    assert (source.title, source.folder, source.interval) == ("Le Fil", "presse", 900)
    out = workspace.run("fetch", "--feed", new).stdout
    assert "1 feeds: 1 ok" in out and "0 new entries, 0 new matches" in out
    listed = {f["url"]: f for f in json.loads(workspace.run("feeds", "list", "--format",
                                                            "json").stdout)}
    assert old not in listed and listed[new]["entries"] == 3
    assert pending(workspace)["nestle"] == ["Le Parti pirate et Nestlé", "Nestlé ferme une usine"]
    assert all(e["feed"] == new for e in json.loads(workspace.run("entries", "--format",
                                                                  "json").stdout))


def test_move_after_a_permanent_redirect(feed_server, workspace):
    """What a user runs once the daemon reports the new address: nothing is new again."""
    workspace.write_watchlists(WATCHLISTS)
    new = feed_server.serve("/new.xml", rss(ITEMS), headers={"ETag": '"v1"'})
    old = feed_server.url("/old.xml")
    feed_server.routes["/old.xml"] = (301, {"Location": new}, b"")
    workspace.write_feeds([old])
    assert "3 new entries" in workspace.run("fetch").stdout
    status = json.loads(workspace.run("status", "--format", "json", code=None).stdout)
    assert status["feeds"]["problems"][0]["moved_to"] == new

    workspace.run("feeds", "move", old, new)

    with db(workspace) as conn:
        row = conn.execute("SELECT moved_to, etag, last_modified, body_hash IS NOT NULL, "
                           "last_success IS NOT NULL FROM feeds WHERE url = ?", [new]).fetchone()
        assert row == (None, None, None, 1, 1)
        assert conn.execute("SELECT count(*) FROM feeds WHERE url = ?", [old]).fetchone() == (0,)
    out = workspace.run("fetch").stdout
    assert "1 feeds: 0 ok, 1 unchanged" in out and "0 new entries, 0 new matches" in out
    assert feed_server.requests("/new.xml")[-1].headers.get("if-none-match") is None
    status = json.loads(workspace.run("status", "--format", "json", code=None).stdout)
    assert status["feeds"]["moved"] == 0 and status["feeds"]["problems"] == []


@pytest.mark.parametrize("old, new, message", [
    ("https://nowhere.example/rss", "https://n.example/rss",
     "feeds.opml: no feed https://nowhere.example/rss"),
    ("{old}", "https://a.example/rss",
     "feeds.opml: https://a.example/rss is already a feed; remove one of the two first"),
    ("{old}", "{old}", "feeds.opml: {old}: the new URL is the same as the old one"),
])
def test_refused_move_changes_nothing(feed_server, workspace, old, new, message):
    url = feed_server.serve("/old.xml", rss(ITEMS))
    (workspace.root / "feeds.opml").write_text(OPML.format(old=url), encoding="utf-8")
    workspace.run("fetch", "--feed", url)
    before = snapshot(workspace), (workspace.root / "feeds.opml").read_bytes()
    err = workspace.run("feeds", "move", old.format(old=url), new.format(old=url), code=1).stderr
    assert err == f"veille: {message.format(old=url)}\n"
    assert (snapshot(workspace), (workspace.root / "feeds.opml").read_bytes()) == before


def test_move_onto_an_address_with_entries_is_refused(feed_server, workspace):
    """NEW_URL was a feed once (removed from the OPML, its entries kept): two histories."""
    old = feed_server.serve("/old.xml", rss(ITEMS[:1]))
    new = feed_server.serve("/new.xml", rss(ITEMS[1:]))
    workspace.write_feeds([old, new])
    workspace.run("fetch")
    workspace.write_feeds([old])
    before = snapshot(workspace), (workspace.root / "feeds.opml").read_bytes()
    err = workspace.run("feeds", "move", old, new, code=1).stderr
    assert err == (f"veille: feeds.opml: {new} already has 2 entries in the database (an "
                   f"earlier feed at that address); veille will not merge two feeds\n")
    assert (snapshot(workspace), (workspace.root / "feeds.opml").read_bytes()) == before


def test_move_rolls_back_when_the_opml_cannot_be_written(feed_server, workspace, monkeypatch):
    old = feed_server.serve("/old.xml", rss(ITEMS))
    workspace.write_feeds([old])
    workspace.run("fetch")
    before = snapshot(workspace), (workspace.root / "feeds.opml").read_bytes()

    def refuse(self: OpmlDocument) -> None:
        raise OpmlError(self.path, "cannot write: Read-only file system")

    monkeypatch.setattr(OpmlDocument, "save", refuse)
    err = workspace.run("feeds", "move", old, feed_server.url("/new.xml"), code=1).stderr
    assert err == "veille: feeds.opml: cannot write: Read-only file system\n"
    assert (snapshot(workspace), (workspace.root / "feeds.opml").read_bytes()) == before


def test_move_of_a_feed_never_synced_edits_only_the_file(tmp_path):
    path = tmp_path / "feeds.opml"
    path.write_text(OPML.format(old="https://old.example/rss"), encoding="utf-8")
    store = Store.open(tmp_path / "v.db")
    report = move_feed(store, path, "https://old.example/rss", "https://new.example/rss")
    assert (report.entries, report.known) == (0, False)
    assert path.read_text(encoding="utf-8") == OPML.format(old="https://new.example/rss")
    store.close()


def test_opml_move_keeps_attributes_and_a_url_placeholder_title_follows(tmp_path):
    path = tmp_path / "feeds.opml"
    path.write_text(OPML.format(old="https://old.example/rss").replace(
        'text="Premier"', 'text="https://a.example/rss"'), encoding="utf-8")
    doc = OpmlDocument.load(path)
    assert doc.move("https://a.example/rss", "https://b.example/rss") == 1
    assert doc.move("https://missing.example/", "https://b.example/") == 0
    assert [(s.title, s.url) for s in doc.sources()][:2] == [
        ("https://b.example/rss", "https://b.example/rss"),
        ("Le Fil", "https://old.example/rss")]


def test_cli_rejects_a_new_url_that_is_not_http(workspace):
    err = workspace.run("feeds", "move", "https://a.example/", "ftp://b.example/", code=2).stderr
    assert "expected an http:// or https:// URL" in err


def test_rename_of_a_watchlist_not_in_a_missing_file(tmp_path):
    store = Store.open(tmp_path / "v.db")
    with pytest.raises(WatchlistError, match="no such watchlist"):
        rename_watchlist(store, tmp_path / "absent.toml", "a", "b")
    assert not (tmp_path / "absent.toml").exists()
    store.close()
