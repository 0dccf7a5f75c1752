"""Matching and story keys in the parser processes (prepare.py): the same matches and stories
as the daemon's process computes, used only when prepared with the pass's own watchlists."""

from __future__ import annotations

import asyncio
import pickle
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from veille import parse_route
from veille.config import settings_from_toml
from veille.folding import FoldedFeed, parse_and_fold
from veille.match import Matcher, compile_watchlist
from veille.models import FeedSource, FetchResult
from veille.parser_pool import ParserPool
from veille.pipeline import FeedPass
from veille.prepare import Preparation, PreparedFeed, install, parse_and_prepare, prepare
from veille.search import folded_text
from veille.store import Store
from veille.stories import StoryConfig, StoryIndex, StoryKey, story_key, story_lead

from .conftest import FeedServer, StubParser, Workspace, rss

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
XML = {"content-type": "application/xml"}
URL = "https://presse.example/rss"

LEAD = ("Greenpeace accuse Nestlé d’utiliser de l’huile de palme issue de la déforestation "
        "en Indonésie ; la campagne contre le KitKat s’étend sur les réseaux sociaux.")
BODY = rss([
    {"title": "Nestlé visé par Greenpeace", "guid": "a", "link": "https://presse.example/a?utm_source=x",
     "description": f"<p>{LEAD}</p>"},
    {"title": "Le Parti pirate en campagne", "guid": "b", "link": "https://presse.example/b",
     "description": "<p>Le Parti pirate présente ses candidats, rien à voir avec Pirate Bay.</p>"},
    {"title": "L’Oréal : résultats", "guid": "c", "link": "https://presse.example/c",
     "description": "<p>Chiffre d’affaires en hausse de 3,2 % pour L’Oréal.</p>"},
    {"title": "Météo", "guid": "d", "link": "https://presse.example/d",
     "description": "<p>Pluie sur la Bretagne.</p>"},
]).encode()


def matcher(*queries: str) -> Matcher:
    return Matcher([compile_watchlist(f"w{i}", q) for i, q in enumerate(queries)])


WATCHED = matcher("nestlé OR kitkat", '"parti pirate" -"pirate bay"', "l'oréal", "/3,2 %/",
                  "title:météo")


def test_the_workers_match_and_key_stories_as_the_daemons_process_does():
    folded = parse_and_fold(URL, BODY, XML)
    assert isinstance(folded, FoldedFeed)
    prepared = prepare(folded, URL, Preparation(WATCHED, StoryConfig()))
    assert isinstance(prepared, PreparedFeed)
    store = Store.memory()
    store.sync_feeds([FeedSource(URL)])
    plan = store.plan_entries(URL, folded.entries, NOW, "Presse", folded.parser, folded.folded)
    assert [w.source for w in plan] == [0, 1, 2, 3]
    for w in plan:
        entry = w.change.entry
        assert w.folded is not None
        here = WATCHED.match(entry, folded_text(entry, w.folded))
        assert prepared.matches[w.source] == tuple(here)
        key = story_key(StoryConfig(), entry.title, story_lead(
            entry.summary_text, entry.content_text, entry.outlet), entry.link) if here else None
        assert prepared.story_keys[w.source] == key
    assert [len(m) for m in prepared.matches] == [1, 0, 2, 1]  # Pirate Bay is a negated phrase
    assert prepared.story_keys[0] is not None and prepared.story_keys[0].link == \
        "https://presse.example/a"


def test_the_workers_match_with_the_watchlists_they_were_started_with():
    pool = ParserPool(workers=1, parse=parse_and_prepare, worker_init=install)
    first = Preparation(matcher("nestlé"), StoryConfig())
    second = Preparation(matcher("météo"), StoryConfig())

    async def parse() -> object:
        return await pool.parse(URL, BODY, XML)

    try:
        pool.prepare_with(first.key, first)
        before = asyncio.run(parse())
        pids = pool.worker_pids()
        pool.prepare_with(first.key, first)  # the same watchlists: the same workers
        assert pool.worker_pids() == pids
        pool.prepare_with(second.key, second)  # changed: new workers
        after = asyncio.run(parse())
    finally:
        pool.close()
    assert isinstance(before, PreparedFeed) and isinstance(after, PreparedFeed)
    assert before.matched_by == first.matcher.key and after.matched_by == second.matcher.key
    assert [bool(m) for m in before.matches] == [True, False, False, False]
    assert [bool(m) for m in after.matches] == [False, False, False, True]


def test_watchlists_that_read_feed_names_are_matched_in_the_daemons_process():
    """A `source:` term reads the feed's name as the store knows it, which a worker does not."""
    install(Preparation(matcher("source:presse nestlé"), StoryConfig()))
    try:
        assert not isinstance(parse_and_prepare(URL, BODY, XML), PreparedFeed)
    finally:
        install(None)


class Fetcher:
    async def fetch(self, request):
        return FetchResult(request.url, "ok", 200, BODY, XML)


class Prepared(StubParser):
    """What a worker gives, prepared with (a copy of, as a worker has) `preparation`."""

    def __init__(self, preparation: Preparation) -> None:
        self.preparation = pickle.loads(pickle.dumps(preparation))

    async def parse(self, url, body, headers, known=None):
        folded = parse_and_fold(url, body, headers)
        assert isinstance(folded, FoldedFeed)
        return prepare(folded, url, self.preparation)


class Counting(Matcher):
    def __init__(self, watchlists) -> None:
        super().__init__(watchlists)
        self.calls = 0

    def match(self, entry, text=None):
        self.calls += 1
        return super().match(entry, text)


@pytest.mark.parametrize("prepared_with", ["the pass's watchlists", "other watchlists"])
def test_a_pass_stores_what_the_workers_matched_only_when_they_had_its_watchlists(
        prepared_with: str):
    own = Counting([compile_watchlist("nestle", "nestlé")])
    other = matcher("nestlé OR météo")
    preparation = Preparation(own if prepared_with == "the pass's watchlists" else other,
                              StoryConfig())
    store = Store.memory()
    store.sync_feeds([FeedSource(URL)])
    keys: list[StoryKey | None] = []

    class Stories(StoryIndex):
        def add(self, entry_id, title, text, link, at, key=None):
            keys.append(key)
            return super().add(entry_id, title, text, link, at, key)

    feed_pass = FeedPass(settings_from_toml({}, None, {"HOME": "/tmp"}), store, Fetcher(),
                         Prepared(preparation), own, lambda: NOW, random.Random(1),
                         Stories(StoryConfig()))
    asyncio.run(feed_pass.run(store.feeds()))
    matched = store.db.execute("SELECT watchlist, snippet FROM matches").fetchall()
    assert matched == [("nestle", LEAD)]  # never the other watchlists' matches
    assert store.db.execute("SELECT link FROM entry_stories").fetchall() == [
        ("https://presse.example/a",)]
    assert [key is not None for key in keys] == [prepared_with == "the pass's watchlists"]
    assert own.calls == (0 if prepared_with == "the pass's watchlists" else 4)


def test_a_first_poll_through_the_workers_stores_what_parsing_inline_stores(
        tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch):
    """`veille fetch` of enough new feeds parses in the workers (parse_route.EXPECTED_BODIES),
    which match and key stories there: the same matches, snippets and stories as a first poll
    parsed in the process."""
    monkeypatch.setattr(parse_route, "EXPECTED_BODIES", 3)
    urls = []
    for i in range(6):
        items = [{"title": f"Nestlé et le KitKat, épisode {j}", "guid": f"{i}-{j}",
                  "link": f"https://site{i}.example/{j}?utm_medium=rss",
                  "description": f"<p>{LEAD} Réaction numéro {j}.</p>"} for j in range(3)]
        urls.append(feed_server.serve(f"/f{i}.xml", rss(items, title=f"Site {i}")))

    used: list[bool] = []
    unspied = FeedPass._prepared

    def spied(self: FeedPass, parsed: object) -> object:
        found = unspied(self, parsed)  # type: ignore[arg-type]
        used.append(found is not None)
        return found

    monkeypatch.setattr(FeedPass, "_prepared", spied)

    def first_poll(name: str) -> tuple[list[tuple[object, ...]], set[frozenset[object]]]:
        ws = Workspace(tmp_path / name, CliRunner())
        ws.root.mkdir()
        ws.write_config()
        ws.write_feeds(urls)
        ws.write_watchlists('[[watchlist]]\nname = "nestle"\nquery = "nestlé OR kitkat"\n')
        ws.run("fetch")
        db = sqlite3.connect(ws.root / "var" / "veille.db")
        rows = db.execute(
            "SELECT e.feed_url, e.key, m.watchlist, m.terms, m.snippet, s.link, s.story_id "
            "FROM matches m JOIN entries e ON e.id = m.entry_id "
            "JOIN entry_stories s ON s.entry_id = e.id ORDER BY e.feed_url, e.key").fetchall()
        db.close()
        stories: dict[object, set[object]] = {}
        for row in rows:  # story ids depend on which feed was stored first: compare groups
            stories.setdefault(row[-1], set()).add(row[:2])
        return [row[:-1] for row in rows], {frozenset(g) for g in stories.values()}

    pooled = first_poll("pool")
    assert used and all(used)  # every feed came prepared from a worker
    used.clear()
    monkeypatch.setattr(parse_route, "EXPECTED_BODIES", 10_000)
    inline = first_poll("inline")
    assert used and not any(used)
    assert len(pooled[0]) == 18 and pooled == inline
    assert len(pooled[1]) == 3  # one story per episode, told by six sites
