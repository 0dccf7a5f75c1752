"""Folding once, in the parser process: the matcher and the search index get from a fold
exactly what they would get folding the stored entry themselves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from veille.folding import FoldedFeed, fold_entry, parse_and_fold
from veille.match import Matcher, compile_watchlist
from veille.models import FeedSource, ParsedEntry
from veille.normalize import _WORD, _word_start, first_position, token_text, url_host, word_aligned_token_text
from veille.parser_pool import ParserPool
from veille.search import entry_index_row, folded_row, folded_text
from veille.store import Store

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
FEED = "https://www.lemonde.fr/rss/une.xml"

_WORDS = st.sampled_from(["Nestlé", "NESTLÉ", "cœur", "l’Oréal", "parti", "pirate", "Pirate Bay",
                          "eau", "½", "Straße", "σ", "co2", "KitKat", "—", "x\u0301"])
_TEXT = st.lists(_WORDS | st.text(max_size=5), max_size=10).map(" ".join)
_HOSTS = st.sampled_from(["www.Le-Monde.fr", "afp.com", "exämple.fr", "[::1]", "a@b.org",
                          "h:8080", "h:x", "", " sp.fr", "www.www.fr"])
_URL = (st.tuples(st.sampled_from(["https://", "HTTP://", "ftp://", "//", "news:", ""]), _HOSTS,
                  st.sampled_from(["", "/", "/a?b#c", "?q", "#f", "/\n", " "]))
        .map("".join) | st.none() | st.text(max_size=12))


def _reference_host(url: str | None) -> str:
    try:
        host = urlsplit(url or "").hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


@given(_URL)
def test_url_host_is_urlsplits_hostname(url):
    assert url_host(url) == _reference_host(url)


def entry(title: str, text: str, author: str | None = None, link: str | None = None,
          categories: tuple[str, ...] = (), outlet: str | None = None) -> ParsedEntry:
    return ParsedEntry(key=title or "k", guid=None, title=title, link=link, author=author,
                       published=NOW, updated=None, summary_html=text, summary_text=text,
                       content_html=text[::-1], content_text=text[::-1], categories=categories,
                       outlet=outlet, outlet_url=outlet and f"https://{outlet}.fr/")


_ENTRY = st.builds(entry, _TEXT, _TEXT, st.none() | _TEXT, _URL,
                   st.lists(_TEXT, max_size=2).map(tuple), st.none() | st.sampled_from(["AFP"]))
_QUERIES = ["nestlé OR l'oréal", '"parti pirate" -"pirate bay"', "title:coeur", "author:eau",
            "category:kitkat", "co2 OR strasse", "source:monde", "pirat*", "/[Œœ]/"]


@settings(max_examples=150, deadline=None)
@given(_ENTRY)
def test_a_fold_gives_the_matcher_and_the_index_what_the_stored_entry_gives(parsed):
    store = Store.memory()
    store.sync_feeds([FeedSource(FEED, "Le Monde")])
    fold = fold_entry(parsed)
    [write] = store.plan_entries(FEED, [parsed], NOW, "Le Monde", "p", [fold])
    stored = write.change.entry
    assert write.values["content_hash"] == parsed.content_hash
    assert folded_row(fold, FEED) == entry_index_row(stored)
    matcher = Matcher([compile_watchlist(f"w{i}", q) for i, q in enumerate(_QUERIES)])
    # the same matches, terms and snippets
    assert matcher.match(stored, folded_text(stored, fold)) == matcher.match(stored)


@given(st.text(alphabet="abé œ’-.x\u0301½", max_size=40),
       st.sampled_from(["a", "b", "e", "ab", "oe", "x"]))
def test_first_position_from_a_fold_is_the_position_found_alone(text, word):
    pattern = f" {word} "
    doc, aligned = word_aligned_token_text(text)
    assert doc == token_text(text)
    if aligned:
        assert first_position(text, [pattern], doc) == first_position(text, [pattern])


@given(st.text(alphabet="ab é_œ’-.\u0301½1\n", max_size=60), st.integers(0, 30))
def test_a_words_start_is_where_stepping_through_the_words_finds_it(text, index):
    words = [m.start() for m in _WORD.finditer(text)]
    if index < len(words):
        assert _word_start(text, index) == words[index]


def _written(store: Store, *entries: ParsedEntry) -> list[int]:
    folds = [fold_entry(e) for e in entries]
    plan = store.plan_entries(FEED, entries, NOW, "Le Monde", "p", folds)
    with store.transaction():
        ids = store.write_entries(FEED, plan, NOW)
    store.remember_index_rows((ids[i], w.values["content_hash"], folded_row(w.folded, FEED))
                              for i, w in enumerate(plan) if w.folded is not None)
    return [ids[i] for i in range(len(plan))]


def _index(store: Store, entry_id: int) -> tuple[str, ...]:
    return tuple(store.db.execute("SELECT title, body, author, source, category FROM "
                                  "entry_search WHERE rowid = ?", [entry_id]).fetchone())


def test_the_index_uses_the_remembered_row_of_an_unchanged_entry():
    store = Store.memory()
    store.sync_feeds([FeedSource(FEED, "Le Monde")])
    [entry_id] = _written(store, entry("Nestlé rachète", "Le cœur du sujet"))
    content_hash = store.db.execute("SELECT content_hash FROM entries").fetchone()[0]
    marked = (" marque ", " m ", " ", " ", " ")
    store.remember_index_rows([(entry_id, content_hash, marked)])
    assert store.index_pending() == 1
    assert _index(store, entry_id) == marked  # read from memory, not folded again


def test_an_entry_changed_since_its_fold_is_folded_again_from_the_database():
    store = Store.memory()
    store.sync_feeds([FeedSource(FEED, "Le Monde")])
    [entry_id] = _written(store, entry("Nestlé rachète", "Le cœur du sujet"))
    # another writer changed it before the backlog was indexed
    store.db.execute("UPDATE entries SET title = 'KitKat', content_hash = 'x' WHERE id = ?",
                     [entry_id])
    assert store.index_pending() == 1
    [stored] = store.entries(limit=None)
    assert _index(store, entry_id) == entry_index_row(stored)
    assert _index(store, entry_id)[0] == " kitkat "


def test_a_rolled_back_write_leaves_no_row_to_remember():
    store = Store.memory()
    store.sync_feeds([FeedSource(FEED, "Le Monde")])
    assert store.remember_index_rows([]) == 0
    _written(store, entry("Nestlé", "eau"))
    assert store.index_pending() == 1
    assert store.remember_index_rows([]) == 0  # indexed rows leave memory


def test_the_parser_processes_fold_what_they_parse():
    body = ("<rss version='2.0'><channel><title>t</title><item><guid>1</guid>"
            "<title>Nestlé et l’Oréal</title><link>https://www.lemonde.fr/a</link>"
            "<description>Le cœur</description></item></channel></rss>").encode()

    async def parse() -> object:
        pool = ParserPool(workers=1, parse=parse_and_fold)
        try:
            return await pool.parse(FEED, body, {"content-type": "application/rss+xml"})
        finally:
            pool.close()

    parsed = asyncio.run(parse())
    assert isinstance(parsed, FoldedFeed) and parsed.parser  # the pool still stamps its id
    [fold] = parsed.folded
    assert fold == fold_entry(parsed.entries[0])
    assert fold.title == " nestle et l oreal " and fold.link_host == " lemonde fr "


def test_a_pass_indexes_the_backlog_while_its_folded_rows_are_in_memory():
    import random

    from veille.config import settings_from_toml
    from veille.models import FetchResult, ParsedFeed
    from veille.pipeline import FeedPass
    from veille.store.search import INDEX_BATCH

    from .test_store import FakeFetcher, InlineParser

    def folded_feed(count: int, prefix: str) -> FoldedFeed:
        entries = tuple(entry(f"{prefix} {i} Nestlé", "eau") for i in range(count))
        plain = ParsedFeed("t", None, None, None, entries)
        return FoldedFeed(**vars(plain), folded=tuple(fold_entry(e) for e in entries))

    settings = settings_from_toml({}, None, {"HOME": "/tmp"})
    store = Store.memory()
    store.sync_feeds([FeedSource(FEED, "Le Monde")])
    result = FetchResult(FEED, "ok", 200, b"<rss/>", {})
    parser = InlineParser(folded_feed(INDEX_BATCH - 1, "a"))
    feed_pass = FeedPass(settings, store, FakeFetcher(result), parser,
                         Matcher([compile_watchlist("n", "nestlé")]), lambda: NOW,
                         random.Random(1))
    asyncio.run(feed_pass.run(store.feeds()))
    assert store.index_backlog() == INDEX_BATCH - 1  # fewer than a batch: they wait
    parser.parsed = folded_feed(3, "b")
    store.db.execute("UPDATE feeds SET body_hash = NULL")
    asyncio.run(feed_pass.run(store.feeds()))
    assert store.index_backlog() == 0
    # and the rows indexed are those the stored entries give
    for stored in store.entries(limit=None):
        assert _index(store, stored.id) == entry_index_row(stored)


def test_the_inline_lane_folds_what_it_parses_too():
    from veille.folding import fold_fast_only

    body = ("<rss version='2.0'><channel><title>t</title><item><guid>1</guid>"
            "<title>Nestlé et l’Oréal</title></item></channel></rss>").encode()
    parsed = fold_fast_only(FEED, body, {"content-type": "application/rss+xml"})
    assert isinstance(parsed, FoldedFeed)
    assert parsed.folded == (fold_entry(parsed.entries[0]),)
    # a document only feedparser reads (not well-formed) is left to the worker processes
    assert fold_fast_only(FEED, b"<rss><channel><item><title>a</title>", {}) is None
