"""Watchlist queries (parsed by query.py) compiled once, and matching of entries against all
watchlists.

Every word-like term becomes a substring of the entry's *token text* (see normalize.token_text):
" w " for a word, " w1 w2 " for a phrase, " p" for a prefix. One Aho-Corasick automaton per
scope, over the terms of all watchlists, finds in one pass over an entry which terms occur;
only watchlists with a term found are then evaluated. Cost grows with the text, not with the
number of watchlists.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import ahocorasick

from .models import StoredEntry
from .normalize import first_position, token_text, url_host, word_spans
from .query import (  # noqa: F401 - re-exported: the query language's names, as before
    ANY,
    MAX_NESTING,
    And,
    Node,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    all_terms,
    compile_term,
    evaluate,
    parse_query,
    positive_terms,
)

_value = operator.itemgetter(1)  # (end, value) pairs from Automaton.iter


# --- entries as matchable text --------------------------------------------------------------

@dataclass
class EntryText:
    """An entry folded and tokenized once per scope, on demand."""

    entry: StoredEntry
    _docs: dict[str, str] = field(default_factory=dict)
    #: token_text of the summary, content and title, when the parser process folded them
    #: word-aligned (None for one that is not)
    fields: tuple[str | None, ...] = ()

    def doc(self, scope: str) -> str:
        doc = self._docs.get(scope)
        if doc is None:
            e = self.entry
            if scope == ANY:
                doc = self.doc("title") + token_text(e.summary_text) + token_text(e.content_text)
            elif scope == "title":
                doc = token_text(e.title)
            elif scope == "author":
                doc = token_text(e.author or "")
            elif scope == "source":
                doc = (token_text(e.feed_title) + token_text(url_host(e.link))
                       + token_text(url_host(e.feed_url)) + token_text(e.outlet or "")
                       + token_text(url_host(e.outlet_url)))
            else:
                doc = "".join(token_text(c) for c in e.categories) or " "
            self._docs[scope] = doc
        return doc

    def plain(self) -> str:
        e = self.entry
        return " ".join(filter(None, (e.title, e.summary_text, e.content_text)))


# --- the matcher ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledWatchlist:
    name: str
    query: str
    node: Node
    positives: tuple[Term, ...]
    always_candidate: bool  # has a regex, or can be true with no term present


@dataclass(frozen=True)
class MatchResult:
    watchlist: str
    entry_id: int
    terms: tuple[str, ...]
    snippet: str


def compile_watchlist(name: str, query: str) -> CompiledWatchlist:
    node = parse_query(query)
    positives = tuple(dict.fromkeys(positive_terms(node)))
    always = any(t.regex is not None for t in positives) or evaluate(node, lambda t: False)
    return CompiledWatchlist(name, query, node, positives, always)


class Matcher:
    """All enabled watchlists, compiled into one Aho-Corasick automaton per scope."""

    def __init__(self, watchlists: Sequence[CompiledWatchlist]) -> None:
        self.watchlists = list(watchlists)
        self._by_pattern: dict[tuple[str, str], set[int]] = {}
        for index, w in enumerate(self.watchlists):
            for t in all_terms(w.node):
                if t.pattern is not None:
                    owners = self._by_pattern.setdefault((t.scope, t.pattern), set())
                    if t in w.positives:
                        owners.add(index)
        self._automata: dict[str, ahocorasick.Automaton] = {}
        for scope, pattern in self._by_pattern:
            automaton = self._automata.setdefault(scope, ahocorasick.Automaton())
            automaton.add_word(pattern, (scope, pattern))
        for automaton in self._automata.values():
            automaton.make_automaton()
        self._always = [i for i, w in enumerate(self.watchlists) if w.always_candidate]

    @cached_property
    def key(self) -> str:
        """Names and queries, hashed: two matchers with one key give the same matches (the
        parser processes match with a copy, prepare.py, told apart by it)."""
        digest = hashlib.blake2b(digest_size=12)
        for w in self.watchlists:
            digest.update(f"{w.name}\x1f{w.query}\x1e".encode())
        return digest.hexdigest()

    @cached_property
    def reads_feed_names(self) -> bool:
        """Whether a watchlist has a `source:` term, which reads the feed's name as the
        store knows it (the parser processes do not)."""
        return any(t.scope == "source" for w in self.watchlists for t in all_terms(w.node))

    def _found(self, text: EntryText) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for scope, automaton in self._automata.items():
            found.update(map(_value, automaton.iter(text.doc(scope))))
        return found

    def match(self, entry: StoredEntry, text: EntryText | None = None) -> list[MatchResult]:
        """`text`: the entry already folded (the search index row folds it before the store
        writes it; see search.entry_text), so ingest folds each entry once."""
        text = text if text is not None else EntryText(entry)
        found = self._found(text)
        candidates = set(self._always)
        for key in found:
            candidates |= self._by_pattern[key]
        if not candidates:
            return []
        regex_cache: dict[Term, bool] = {}

        def holds(term: Term) -> bool:
            if term.regex is None:
                return (term.scope, term.pattern) in found
            if term not in regex_cache:
                haystack = text.plain() if term.scope == ANY else _scope_plain(entry, term.scope)
                regex_cache[term] = term.regex.search(haystack) is not None
            return regex_cache[term]

        out = []
        for index in sorted(candidates):
            w = self.watchlists[index]
            if evaluate(w.node, holds):
                hits = [t for t in w.positives if holds(t)]
                out.append(MatchResult(w.name, entry.id, tuple(t.display for t in hits),
                                       snippet(entry, hits, folded=text.fields)))
        return out


def _scope_plain(entry: StoredEntry, scope: str) -> str:
    if scope == "title":
        return entry.title
    if scope == "author":
        return entry.author or ""
    if scope == "source":
        return (f"{entry.feed_title} {url_host(entry.link)} {entry.outlet or ''} "
                f"{url_host(entry.outlet_url)}")
    return " | ".join(entry.categories)


# --- snippets and highlights ------------------------------------------------------------------

def _term_patterns(terms: Iterable[str | Term]) -> tuple[list[str], list[re.Pattern[str]]]:
    patterns, regexes = [], []
    for term in terms:
        if isinstance(term, str):
            try:
                term = compile_term(term)
            except QuerySyntaxError:
                continue
        if term.regex is not None:
            regexes.append(term.regex)
        elif term.pattern is not None:
            patterns.append(term.pattern)
    return patterns, regexes


def highlight_spans(text: str, terms: Iterable[str | Term]) -> list[tuple[int, int]]:
    """Character spans of `text` where any of the terms (as displayed, or compiled) occurs,
    merged and sorted."""
    patterns, regexes = _term_patterns(terms)
    found = [m.span() for r in regexes for m in r.finditer(text) if m.end() > m.start()]
    if patterns and text:
        doc, words = word_spans(text)
        for p in patterns:
            length = p.strip().count(" ") + 1
            pos = doc.find(p)
            while pos != -1:
                first = doc.count(" ", 0, pos)
                found.append((words[first][0], words[first + length - 1][1]))
                pos = doc.find(p, pos + 1)
    found.sort()
    merged: list[tuple[int, int]] = []
    for s, e in found:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _first_hit(text: str, terms: Sequence[str | Term], doc: str | None = None) -> int | None:
    """Where the first of `terms` starts in `text`, without mapping every word of it."""
    if not text:
        return None
    patterns, regexes = _term_patterns(terms)
    hits = [m.start() for r in regexes if (m := r.search(text))]
    if patterns:
        position = first_position(text, patterns, doc)
        if position is not None:
            hits.append(position)
    return min(hits) if hits else None


def snippet(entry: StoredEntry, terms: Sequence[str | Term], width: int = 200,
            folded: Sequence[str | None] = ()) -> str:
    """About `width` characters of the entry's text around the first hit, cut at word breaks.
    `folded`: word-aligned token_text of the summary, content and title, when already known."""
    docs = folded or (None, None, None)
    for text, doc in zip((entry.summary_text, entry.content_text, entry.title), docs, strict=True):
        first = _first_hit(text, terms, doc)
        if first is not None:
            break
    else:
        text, first = entry.summary_text or entry.content_text or entry.title, 0
    if len(text) <= width:
        return text
    start = max(0, first - width // 3)
    if start > 0:
        start = text.find(" ", start) + 1 or start
    end = min(len(text), start + width)
    if end < len(text):
        cut = text.rfind(" ", start, end)
        end = cut if cut > first else end
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")
