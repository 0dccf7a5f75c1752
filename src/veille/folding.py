"""An entry's text folded once, in the parser process, for matching and the search index.

Folding (normalize.token_text) is the costliest pure step of ingest after parsing: every new
or changed entry is folded for the matcher and again for the search index. Done in the parser
worker, beside the parse, it runs on the other cores while the main process stores; the main
process then only concatenates. `index_row` (search.py) is built from the same FoldedEntry,
so the index row of a stored entry is the one its fold gives, whichever process made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, NamedTuple

from .models import ParsedEntry, ParsedFeed
from .normalize import token_text, url_host, word_aligned_token_text

if TYPE_CHECKING:
    from .parse_failure import ParseFailure


class FoldedEntry(NamedTuple):
    """token_text of each part of an entry that matching or the index reads, and the entry's
    content hash (the store compares it with the stored one), computed in the same place."""

    title: str
    summary: str
    content: str
    author: str
    link_host: str  # the link's domain
    outlet: str  # the credited outlet's name and domain
    category: str  # every category, or " " for none
    content_hash: str = ""
    #: whether summary, content and title are word-aligned with their source (nearly always):
    #: snippets then find a hit's place in the text without folding it again
    aligned: tuple[bool, bool, bool] = (False, False, False)

    @property
    def body(self) -> str:
        return self.summary + self.content

    @property
    def snippet_docs(self) -> tuple[str | None, ...]:
        """Summary, content and title as match.snippet may read them: None where not aligned.
        (Spelled out: it runs for every entry the matcher reads at ingest.)"""
        summary, content, title = self.aligned
        return (self.summary if summary else None, self.content if content else None,
                self.title if title else None)


def fold_parts(title: str, summary_text: str, content_text: str, author: str | None,
               link: str | None, categories: tuple[str, ...] | list[str],
               outlet: str | None, outlet_url: str | None) -> FoldedEntry:
    (folded_title, title_aligned), (summary, summary_aligned), (content, content_aligned) = (
        word_aligned_token_text(title), word_aligned_token_text(summary_text),
        word_aligned_token_text(content_text))
    return FoldedEntry(folded_title, summary, content, token_text(author or ""),
                       token_text(url_host(link)),
                       token_text(outlet or "") + token_text(url_host(outlet_url)),
                       "".join(token_text(c) for c in categories) or " ",
                       aligned=(summary_aligned, content_aligned, title_aligned))


def fold_entry(e: ParsedEntry) -> FoldedEntry:
    return fold_parts(e.title, e.summary_text, e.content_text, e.author, e.link, e.categories,
                      e.outlet, e.outlet_url)._replace(content_hash=e.content_hash)


@dataclass(frozen=True)
class FoldedFeed(ParsedFeed):
    """A parsed feed with each entry's fold, in the order of `entries`."""

    folded: tuple[FoldedEntry, ...] = ()


def parse_and_fold(url: str, body: bytes, headers: dict[str, str],
                   known: Mapping[str, str] | None = None) -> ParsedFeed | ParseFailure:
    """The parser pool's work for ingest: parse, then fold every entry. (parse is imported
    here: the search command folds queries and rows without loading the parsers.)"""
    from .parse import parse_feed

    return _folded(parse_feed(url, body, headers, known=known or {}))


def fold_fast_only(url: str, body: bytes, headers: dict[str, str],
                   known: Mapping[str, str] | None = None
                   ) -> ParsedFeed | ParseFailure | None:
    """The inline lane's work (parser_pool.py): parse.parse_fast_only, then fold."""
    from .parse import parse_fast_only

    parsed = parse_fast_only(url, body, headers, known or {})
    return None if parsed is None else _folded(parsed)


def _folded(parsed: ParsedFeed | ParseFailure) -> ParsedFeed | ParseFailure:
    if not isinstance(parsed, ParsedFeed):
        return parsed
    return FoldedFeed(**{f.name: getattr(parsed, f.name) for f in fields(ParsedFeed)},
                      folded=tuple(fold_entry(e) for e in parsed.entries))
