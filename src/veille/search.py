"""Searching stored history with the watchlist query language: an FTS5 index narrows the
entries down, the exact matcher (match.py) decides. Pure: the store is passed in.

The index holds veille's own folded token text (normalize.token_text), one column per matcher
scope, tokenized by FTS5's `ascii` tokenizer: it splits on ASCII spaces and punctuation only
and keeps every non-ASCII character inside its token, so its tokens are exactly the words of
the token text (stock `unicode61` would not turn `œ` into `oe`, nor agree with Python on every
letter). A word, a phrase and a prefix of the query language are then an FTS5 phrase in the
matching columns. What FTS5 cannot say (a /regex/, a NOT, a source term that a feed's current
name could satisfy) becomes "no condition" in the prefilter, so the prefilter only ever lets
through more entries than match, never fewer; the matcher removes the extra ones.

    query -> parse_query -> prefilter() -> FTS5 MATCH (store) -> ids, the last stored first
          -> Matcher.match on each, in batches, until `limit` hits
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from .folding import FoldedEntry, fold_parts
from .match import ANY, And, CompiledWatchlist, EntryText, Matcher, Node, Not, Term, all_terms
from .models import StoredEntry, StoredMatch
from .normalize import token_text, url_host

#: The index's columns, in order; ANY (the default scope) is title and body together.
INDEX_COLUMNS = ("title", "body", "author", "source", "category")
_COLUMNS = {ANY: "{title body}", "title": "title", "author": "author", "source": "source",
            "category": "category"}


def index_row(title: str, summary_text: str, content_text: str, author: str | None,
              link: str | None, feed_url: str, categories: Iterable[str],
              outlet: str | None = None, outlet_url: str | None = None) -> tuple[str, ...]:
    """The folded text of one entry, per INDEX_COLUMNS, as match.EntryText folds it.

    `source` holds the link's and the feed URL's domains and the outlet an aggregator credits
    (its name and domain), but not the feed's name: a feed can be renamed after its entries
    were indexed, so a source term a feed name could satisfy is left out of the prefilter
    instead (see prefilter()).
    """
    return folded_row(fold_parts(title, summary_text, content_text, author, link,
                                 list(categories), outlet, outlet_url), feed_url)


def folded_row(f: FoldedEntry, feed_url: str) -> tuple[str, ...]:
    """index_row from an entry already folded (in the parser process, folding.py)."""
    return (f.title, f.body, f.author, f.link_host + _feed_source(feed_url) + f.outlet,
            f.category)


@lru_cache(maxsize=4096)
def _feed_source(feed_url: str) -> str:
    """A feed's domain, folded once per feed rather than once per entry."""
    return token_text(url_host(feed_url))


def entry_index_row(e: StoredEntry) -> tuple[str, ...]:
    return index_row(e.title, e.summary_text, e.content_text, e.author, e.link, e.feed_url,
                     e.categories, e.outlet, e.outlet_url)


def entry_text(e: StoredEntry, row: tuple[str, ...],
               snippet_docs: tuple[str | None, ...] = ()) -> EntryText:
    """The matcher's folded entry, from its index row: the same folding, done once."""
    if not row:
        return EntryText(e)
    title, body, author, _source, category = row
    return EntryText(e, {"title": title, ANY: title + body, "author": author,
                         "category": category}, snippet_docs)


def folded_text(e: StoredEntry, f: FoldedEntry, row: tuple[str, ...] | None = None
                ) -> EntryText:
    """The matcher's view of an entry from its fold (folding.py): nothing is folded again.
    `row`: its folded_row, when the caller has it already."""
    return entry_text(e, row or folded_row(f, e.feed_url), f.snippet_docs)


def prefilter(node: Node, feed_names: Sequence[str] = ()) -> str | None:
    """An FTS5 query true for every entry the query matches (usually for few others), or None
    when nothing narrower than "every entry" can be said.

    `feed_names`: the names feeds are shown under now; a `source:` term found in one of them
    gives no condition, since the index does not hold feed names.
    """
    if isinstance(node, Term):
        if node.pattern is None:
            return None  # a /regex/ sees the raw text, not the folded words
        if node.scope == "source":
            docs = [token_text(name) for name in feed_names]
            if any(node.pattern in doc for doc in docs):
                return None
        prefix = "" if node.pattern.endswith(" ") else " *"
        return f'{_COLUMNS[node.scope]} : "{node.pattern.strip()}"{prefix}'
    if isinstance(node, Not):
        return None  # FTS5's NOT needs a positive left side; the And around it keeps its own
    parts = [prefilter(c, feed_names) for c in node.children]
    if isinstance(node, And):
        kept = [p for p in parts if p is not None]
        return " AND ".join(f"({p})" for p in kept) if kept else None
    if any(p is None for p in parts):
        return None  # one side of an OR that can be anything makes the OR anything
    return " OR ".join(f"({p})" for p in parts if p is not None)


# --- running a search -------------------------------------------------------------------------

class SearchSource(Protocol):
    """What a search needs from the store (store/search.py)."""

    def feed_names(self) -> list[str]: ...

    def search_ids(self, fts: str | None, *, since: datetime | None = None,
                   feed_url: str | None = None, watchlist: str | None = None,
                   batch: int = 200) -> Iterator[list[int]]: ...

    def entries_by_id(self, ids: Sequence[int]) -> list[tuple[StoredEntry, int | None]]: ...


@dataclass(frozen=True)
class SearchResult:
    matches: list[StoredMatch]  # newest published first; `id` is the entry's id
    examined: int  # entries the index let through that the matcher looked at
    complete: bool  # every entry the index let through was examined: nothing more to find

    @property
    def more(self) -> bool:
        return not self.complete


def candidate_ids(source: SearchSource, node: Node, *, since: datetime | None = None,
                  feed_url: str | None = None, watchlist: str | None = None,
                  batch: int = 200) -> Iterator[list[int]]:
    """Ids of the entries the index lets through, the last stored first, `batch` at a time."""
    has_source = any(t.scope == "source" for t in all_terms(node))
    fts = prefilter(node, source.feed_names() if has_source else ())
    return source.search_ids(fts, since=since, feed_url=feed_url, watchlist=watchlist,
                             batch=batch)


def candidates(source: SearchSource, node: Node, *, since: datetime | None = None,
               feed_url: str | None = None, watchlist: str | None = None,
               batch: int = 200) -> Iterator[tuple[StoredEntry, int | None]]:
    """The entries the index lets through (with their story ids), the last stored first,
    read `batch` at a time."""
    for ids in candidate_ids(source, node, since=since, feed_url=feed_url, watchlist=watchlist,
                             batch=batch):
        yield from source.entries_by_id(ids)


def search(source: SearchSource, query: CompiledWatchlist, *, now: datetime,
           since: datetime | None = None, feed_url: str | None = None,
           watchlist: str | None = None, limit: int | None = None) -> SearchResult:
    """The entries `query` matches: the `limit` last stored (None: all of them), newest
    published first."""
    matcher = Matcher([query])
    found: list[StoredMatch] = []
    examined = 0
    complete = True
    batch = 200 if limit is None else min(200, limit + 10)
    for entry, story_id in candidates(source, query.node, since=since, feed_url=feed_url,
                                      watchlist=watchlist, batch=batch):
        if limit is not None and len(found) >= limit:
            complete = False
            break
        examined += 1
        found += [StoredMatch(entry.id, query.name, r.terms, r.snippet, now, False, entry,
                              story_id) for r in matcher.match(entry)]
    found.sort(key=lambda m: (m.entry.published, m.entry.id), reverse=True)
    return SearchResult(found, examined, complete)
