"""Search: the FTS5 prefilter never loses a match, the matcher has the final word, the index
follows the entries (ingest, update, retention, migration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veille.match import Matcher, compile_watchlist, parse_query
from veille.models import FeedSource, ParsedEntry
from veille.search import entry_index_row, entry_text, prefilter, search
from veille.store import Store, migrations
from veille.store.schema import SEARCH_AUTOMERGE

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEED = "https://www.ouest-france.fr/rss"
OTHER = "https://blog.example.org/feed"


def parsed(key: str, title: str, text: str = "", *, author: str | None = None,
           link: str | None = None, categories: tuple[str, ...] = (),
           published: datetime = NOW, outlet: str | None = None,
           outlet_url: str | None = None) -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=title, link=link, author=author,
                       published=published, updated=None, summary_html=text, summary_text=text,
                       content_html="", content_text="", categories=categories, outlet=outlet,
                       outlet_url=outlet_url)


def make_store(*feeds: tuple[str, str]) -> Store:
    store = Store.memory()
    store.sync_feeds([FeedSource(url, title) for url, title in feeds])
    return store


def found(store: Store, query: str, **kw: object) -> list[str]:
    result = search(store, compile_watchlist("q", query), now=NOW, **kw)  # type: ignore[arg-type]
    return [m.entry.title for m in result.matches]


def ids(store: Store, fts: str | None, **kw: object) -> list[int]:
    return [i for batch in store.search_ids(fts, **kw) for i in batch]  # type: ignore[arg-type]


# --- the prefilter, as FTS5 text ---------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("nestlé", '{title body} : "nestle"'),
    ("Nestlé Waters", '({title body} : "nestle") AND ({title body} : "waters")'),
    ('"l’Oréal"', '{title body} : "l oreal"'),
    ("pirat*", '{title body} : "pirat" *'),
    ("l’oré*", '{title body} : "l ore" *'),
    ("title:cœur", 'title : "coeur"'),
    ("author:Ségolène category:économie",
     '(author : "segolene") AND (category : "economie")'),
    ("danone OR lactalis", '({title body} : "danone") OR ({title body} : "lactalis")'),
    ("nestlé -eau", '({title body} : "nestle")'),
    ("nestlé NOT (eau OR lait)", '({title body} : "nestle")'),
    ("nestlé /n[eé]stl/", '({title body} : "nestle")'),
    ("/n[eé]stl/", None),
    ("nestlé OR /x/", None),
    ("a OR (b -c)", '({title body} : "a") OR (({title body} : "b"))'),
    ("source:ouest-france", 'source : "ouest france"'),
    ("source:lemonde nestlé", '({title body} : "nestle")'),  # a feed is named "Le Monde…"
    ("Saint-Étienne", '{title body} : "saint etienne"'),
])
def test_prefilter_says_in_fts5_what_it_can(query, expected):
    assert prefilter(parse_query(query), ["LeMonde.fr — À la une"]) == expected


# --- French searches, end to end in a real database ------------------------------------------

ENTRIES = [
    parsed("1", "Nestlé rappelle des pizzas Buitoni", "Le groupe suisse NESTLÉ rappelle…",
           link="https://www.ouest-france.fr/a1", categories=("Économie", "Agro-alimentaire")),
    parsed("2", "L’Oréal rachète une marque coréenne", "Le numéro un mondial des cosmétiques",
           author="Ségolène Dupont", link="https://www.ouest-france.fr/a2"),
    parsed("3", "Le cœur du problème", "Œuvre et cœur : une affaire de Nestle Waters",
           link="https://www.ouest-france.fr/a3"),
    parsed("4", "Saint-Étienne : l'usine Danone ferme", "Danone annonce…",
           link="https://blog.example.org/4", categories=("Social",)),
    parsed("5", "Le Parti pirate dépose ses listes", "The Pirate Bay n’a rien à voir",
           link="https://blog.example.org/5"),
    parsed("6", "Lactalis : le rappel s'étend", "Le lait infantile rappelé en Île-de-France",
           link="https://blog.example.org/6", published=NOW - timedelta(days=40)),
]


@pytest.fixture
def french() -> Store:
    store = make_store((FEED, "Ouest-France"), (OTHER, "Le blog éco"))
    store.upsert_entries(FEED, ENTRIES[:3], NOW)
    store.upsert_entries(OTHER, ENTRIES[3:5], NOW)
    store.upsert_entries(OTHER, ENTRIES[5:], NOW - timedelta(days=40))
    return store


@pytest.mark.parametrize("query, titles", [
    ("nestle", ["Nestlé rappelle des pizzas Buitoni", "Le cœur du problème"]),
    ("NESTLÉ -waters", ["Nestlé rappelle des pizzas Buitoni"]),
    ('"nestlé waters"', ["Le cœur du problème"]),
    ("coeur", ["Le cœur du problème"]),
    ("oeuvre", ["Le cœur du problème"]),
    ('"l\'oréal"', ["L’Oréal rachète une marque coréenne"]),
    ("oreal", ["L’Oréal rachète une marque coréenne"]),
    ("rachete coreenne", ["L’Oréal rachète une marque coréenne"]),
    ("saint-etienne", ["Saint-Étienne : l'usine Danone ferme"]),
    ('"saint etienne"', ["Saint-Étienne : l'usine Danone ferme"]),
    ("rappel*", ["Nestlé rappelle des pizzas Buitoni", "Lactalis : le rappel s'étend"]),
    ("title:rappel", ["Lactalis : le rappel s'étend"]),
    ("author:segolene", ["L’Oréal rachète une marque coréenne"]),
    ("category:economie", ["Nestlé rappelle des pizzas Buitoni"]),
    ("category:agro*", ["Nestlé rappelle des pizzas Buitoni"]),
    ("source:ouest-france coeur", ["Le cœur du problème"]),
    ("source:eco danone", ["Saint-Étienne : l'usine Danone ferme"]),  # the feed's name
    ("danone OR lactalis", ["Saint-Étienne : l'usine Danone ferme",
                            "Lactalis : le rappel s'étend"]),
    ('"parti pirate" -"pirate bay"', []),
    ("pirate NOT bay", []),
    ("/Nestl[eé] W/", ["Le cœur du problème"]),
    ("ile-de-france", ["Lactalis : le rappel s'étend"]),
    ("nestle (pizza* OR waters)", ["Nestlé rappelle des pizzas Buitoni",
                                   "Le cœur du problème"]),
])
def test_french_searches(french, query, titles):
    assert sorted(found(french, query)) == sorted(titles)


def test_filters_since_feed_watchlist_and_limit(french):
    assert found(french, "rappel*", since=NOW - timedelta(days=1)) == [
        "Nestlé rappelle des pizzas Buitoni"]
    assert found(french, "rappel*", feed_url=OTHER) == ["Lactalis : le rappel s'étend"]
    entry_id = french.entries(feed_url=OTHER, limit=None)[-1].id
    french.add_matches([(Matcher([compile_watchlist("lait", "lait")]).match(
        french.entries_by_id([entry_id])[0][0])[0], False)], NOW)
    assert found(french, "rappel*", watchlist="lait") == ["Lactalis : le rappel s'étend"]
    assert found(french, "rappel*", watchlist="autre") == []
    result = search(french, compile_watchlist("q", "le"), now=NOW, limit=2)
    assert len(result.matches) == 2 and result.more
    assert not search(french, compile_watchlist("q", "le"), now=NOW).more


def test_results_are_newest_first_with_terms_and_snippet(french):
    result = search(french, compile_watchlist("q", "rappel* OR nestle"), now=NOW)
    assert [m.entry.published for m in result.matches] == sorted(
        (m.entry.published for m in result.matches), reverse=True)
    first = result.matches[0]
    assert first.terms and first.snippet


# --- the index follows the entries ---------------------------------------------------------------

def test_index_is_written_with_entries_updated_and_pruned():
    store = make_store((FEED, "Ouest-France"))
    store.upsert_entries(FEED, [parsed("2", "Lactalis")], NOW - timedelta(days=100))
    store.upsert_entries(FEED, [parsed("1", "Danone")], NOW - timedelta(days=1))
    assert store.search_index_size() == 2
    store.upsert_entries(FEED, [parsed("1", "Danone devient Nestlé")], NOW)
    assert store.search_index_size() == 2
    assert found(store, "nestle") == ["Danone devient Nestlé"]
    assert ids(store, '"danone"') != [] and ids(store, '"lactalis"') != []
    store.upsert_entries(FEED, [parsed("1", "Nestlé seul")], NOW)
    assert ids(store, '"danone"') == []  # the old words left the index
    assert store.prune(NOW - timedelta(days=30)) == 1  # entry 2, never matched
    assert store.search_index_size() == 1 and ids(store, '"lactalis"') == []


def test_entries_wait_in_a_backlog_that_every_search_indexes_first():
    """Entries join the index in batches off the poll's transaction; a search never misses
    one that is stored but not yet indexed."""
    store = make_store((FEED, "Ouest-France"))
    store.upsert_entries(FEED, [parsed(str(i), f"Danone {i}") for i in range(5)], NOW)
    assert store.index_backlog() == 5
    assert len(found(store, "danone")) == 5 and store.index_backlog() == 0
    store.upsert_entries(FEED, [parsed("0", "Nestlé rachète")], NOW)  # a changed entry
    store.upsert_entries(FEED, [parsed("9", "Lactalis")], NOW)
    assert store.index_backlog() == 2
    assert store.index_pending(batch=1) == 2 and store.index_backlog() == 0  # batch by batch
    assert found(store, "nestle") == ["Nestlé rachète"] and len(found(store, "danone")) == 4
    store.upsert_entries(FEED, [parsed("10", "Supprimé avant d'être indexé")], NOW)
    assert store.prune(NOW + timedelta(days=1)) > 0  # gone before the backlog was indexed
    assert store.index_pending() == 1 and store.index_backlog() == 0


def test_index_rows_roll_back_with_their_entries():
    store = make_store((FEED, "Ouest-France"))
    plan = store.plan_entries(FEED, [parsed("1", "Danone")], NOW)
    with pytest.raises(RuntimeError), store.transaction():
        store.write_entries(FEED, plan, NOW)
        assert store.search_index_size() == 1
        raise RuntimeError("the feed's other writes failed")
    assert store.search_index_size() == 0 and store.entries() == []


@pytest.mark.parametrize("schema", ["m008_entry_outlet", "m007_search_index"])
def test_migration_indexes_an_existing_database(tmp_path, schema):
    """From m006 (what this index was written against) and from m009 (outlets stored)."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before=schema)
    db.execute("INSERT INTO feeds (url, title) VALUES (?, 'Ouest-France')", [FEED])
    for i, (title, text, cats) in enumerate([
            ("Nestlé à Vittel", "L’eau en question", ["Économie"]),
            ("Rien à voir", "", []),
            ("Le cœur de Danone", "", ["Social"])], 1):
        db.execute(
            "INSERT INTO entries (feed_url, key, title, link, published, summary_text, "
            "categories, content_hash, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, 'h', ?)",
            [FEED, f"k{i}", title, f"https://www.ouest-france.fr/{i}", NOW.isoformat(), text,
             json.dumps(cats), NOW.isoformat()])
    if schema == "m007_search_index":  # an aggregator's entry credited to its outlet
        db.execute("UPDATE entries SET outlet = 'Le Télégramme', "
                   "outlet_url = 'https://www.letelegramme.fr/' WHERE key = 'k2'")
    db.conn.commit()
    db.conn.close()
    store = Store.open(path)
    assert "m007_search_index" in [m.name for m in migrations.applied(store.db)]
    if schema == "m007_search_index":
        assert found(store, "source:telegramme") == ["Rien à voir"]
        assert found(store, "source:letelegramme.fr") == ["Rien à voir"]
    assert store.search_index_size() == 3
    assert found(store, "nestle eau") == ["Nestlé à Vittel"]
    assert found(store, "coeur category:social") == ["Le cœur de Danone"]
    assert sorted(found(store, "source:ouest-france")) == ["Le cœur de Danone", "Nestlé à Vittel",
                                                           "Rien à voir"]
    store.close()


def _automerge(db: sqlite_utils.Database) -> int | None:
    row = db.execute("SELECT v FROM entry_search_config WHERE k = 'automerge'").fetchone()
    return None if row is None else int(row[0])


def test_the_search_index_merges_eight_segments_at_a_time(tmp_path):
    """New databases and those the previous release left (FTS5's default, 4) alike."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m012_search_automerge")
    assert _automerge(db) is None
    db.conn.close()
    for store in (Store.open(path), Store.open(tmp_path / "new.db")):
        assert _automerge(store.db) == SEARCH_AUTOMERGE == 8
        store.close()
    store = Store.open(path)  # a second open leaves it so
    assert _automerge(store.db) == 8
    store.close()


# --- property: search == the matcher over every stored entry ------------------------------------

_WORDS = ["nestlé", "NESTLE", "cœur", "coeur", "l’oréal", "l'Oréal", "oreal", "saint-étienne",
          "Étienne", "ÉTÉ", "ete", "pirate", "parti", "eau", "œuvre", "straße", "strasse",
          "ﬁnance", "finance", "Ǆemal", "ıi", "½", "x²", "Σίσυφος", "σ", "n°1", "co2", "a_b",
          "é", "e\u0301", "—", "…", "«", "»", "le", "la"]
_QUERY_WORDS = ["nestlé", "coeur", "cœur", "oréal", "l'oréal", "etienne", "saint-étienne",
                "ete", "pirate", "parti", "eau", "oeuvre", "strasse", "finance", "σ", "le",
                "co2", "x2", "ﬁ", "n"]
_TEXT = st.lists(st.sampled_from(_WORDS + _QUERY_WORDS) | st.text(max_size=6),
                 max_size=8).map(" ".join)
_SCOPES = ["", "", "title:", "author:", "source:", "source:", "category:"]


def _term() -> st.SearchStrategy[str]:
    word = st.sampled_from(_QUERY_WORDS)
    phrase = st.lists(word, min_size=1, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
    prefix = word.map(lambda w: w[: max(1, len(w) - 2)] + "*")
    regex = st.sampled_from(["/n[eé]stl/", "/[Œœ]/", "/^le/"])
    return st.tuples(st.sampled_from(_SCOPES), word | phrase | prefix | regex).map("".join)


_QUERY = st.recursive(
    _term(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(" ".join),
        st.tuples(inner, inner).map(" OR ".join),
        st.tuples(inner, inner).map(lambda ab: f"{ab[0]} -{ab[1]}"),
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]} OR NOT {ab[1]})"),
        inner.map(lambda q: f"({q})"),
    ),
    max_leaves=5,
)

_NAME = st.lists(st.sampled_from(_WORDS + _QUERY_WORDS), max_size=3).map(" ".join)
_ENTRY = st.fixed_dictionaries({
    "title": _TEXT, "text": _TEXT, "author": st.none() | _TEXT,
    "categories": st.lists(_TEXT, max_size=2).map(tuple),
    "host": st.sampled_from(["www.ouest-france.fr", "le-monde.fr", "xn--cur-ena.fr", "e.org",
                             "eau.pirate.fr"]),
    "outlet": st.none() | _NAME,
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_ENTRY, min_size=1, max_size=8), query=_QUERY,
       feed_title=_NAME, renamed=st.none() | _NAME)
def test_search_returns_exactly_what_the_matcher_finds(entries, query, feed_title, renamed):
    try:
        compiled = compile_watchlist("q", query)
    except ValueError:
        return  # e.g. only exclusions: not a query at all
    store = make_store((FEED, feed_title))
    store.upsert_entries(FEED, [
        parsed(f"k{i}", e["title"], e["text"], author=e["author"],
               link=f"https://{e['host']}/{i}", categories=e["categories"],
               outlet=e["outlet"], outlet_url=e["outlet"] and f"https://{e['host']}/")
        for i, e in enumerate(entries)], NOW)
    if renamed is not None:  # the feed's name changes after its entries were indexed
        store.sync_feeds([FeedSource(FEED, renamed)])
    every = store.entries(limit=None)
    matcher = Matcher([compiled])
    expected = {e.id for e in every if matcher.match(e)}
    # at ingest the matcher reads the index row's folding instead of folding again
    assert all(matcher.match(e, entry_text(e, entry_index_row(e))) == matcher.match(e)
               for e in every)
    result = search(store, compiled, now=NOW)
    assert {m.entry.id for m in result.matches} == expected
    assert result.complete
