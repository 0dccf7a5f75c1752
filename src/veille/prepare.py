"""What a parser process does for ingest after the parse: fold each entry (folding.py), match
it against the watchlists, and compute the story key of each entry that matched.

These are pure functions of an entry and the watchlists, and on a first poll they are most of
the per-entry work besides storing. Done beside the parse, on the workers' cores, they leave
the daemon's process the writes and the story index lookups. The workers get the watchlists
once, when they start (`install`, the pool's initializer); when the watchlists change, the
pool starts new workers with the new ones (ParserPool.prepare_with).

The pipeline uses what came prepared only when it was prepared with its own matcher and story
settings, and matches in its own process otherwise: the inline lane's bodies, a body parsed
before the watchlists changed, and watchlists with `source:` terms (they read the feed's name
as the store knows it, which the workers do not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .folding import FoldedFeed, parse_and_fold
from .match import Matcher, MatchResult
from .models import ParsedEntry, ParsedFeed, StoredEntry
from .search import folded_text
from .stories import StoryConfig, StoryKey, story_key, story_lead

if TYPE_CHECKING:
    from .parse import ParseFailure

_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)  # matching reads no date


@dataclass(frozen=True)
class Preparation:
    """What the workers prepare entries with."""

    matcher: Matcher
    stories: StoryConfig

    @property
    def key(self) -> str:
        return f"{self.matcher.key}:{story_settings(self.stories)}"


def story_settings(config: StoryConfig) -> tuple[bool, int]:
    """The settings a story key depends on."""
    return config.enabled, config.shingle


@dataclass(frozen=True)
class PreparedFeed(FoldedFeed):
    """A folded feed with each entry's matches and, for the entries that matched, story key
    (in the order of `entries`), and what they were prepared with."""

    matched_by: str = ""  # Matcher.key
    story_settings: tuple[bool, int] = (False, 0)
    matches: tuple[tuple[MatchResult, ...], ...] = ()
    story_keys: tuple[StoryKey | None, ...] = ()


_installed: Preparation | None = None


def install(preparation: Preparation | None) -> None:
    """The parser pool's initializer: what this worker prepares entries with."""
    global _installed
    _installed = preparation


def parse_and_prepare(url: str, body: bytes, headers: dict[str, str],
                      known: Mapping[str, str] | None = None) -> ParsedFeed | ParseFailure:
    """A worker's work for ingest: parse and fold (folding.py), then prepare."""
    parsed = parse_and_fold(url, body, headers, known)
    preparation = _installed
    if (preparation is None or not isinstance(parsed, FoldedFeed)
            or preparation.matcher.reads_feed_names):
        return parsed
    return prepare(parsed, url, preparation)


def prepare(parsed: FoldedFeed, url: str, preparation: Preparation) -> PreparedFeed:
    matcher, config = preparation.matcher, preparation.stories
    matches, keys = [], []
    for e, folded in zip(parsed.entries, parsed.folded, strict=True):
        entry = _as_stored(e, url)
        found = tuple(matcher.match(entry, folded_text(entry, folded)))
        matches.append(found)
        keys.append(story_key(config, e.title, story_lead(e.summary_text, e.content_text,
                                                          e.outlet), e.link) if found else None)
    return PreparedFeed(**{f.name: getattr(parsed, f.name) for f in fields(FoldedFeed)},
                        matched_by=matcher.key, story_settings=story_settings(config),
                        matches=tuple(matches), story_keys=tuple(keys))


def _as_stored(e: ParsedEntry, feed_url: str) -> StoredEntry:
    """The entry as the matcher reads it: its text, link, author, categories and outlet (the
    store's plan gives the same, with an id and dates the matcher does not read)."""
    return StoredEntry(
        id=0, feed_url=feed_url, feed_title=feed_url, key=e.key, title=e.title, link=e.link,
        author=e.author, published=_NO_DATE, updated=e.updated, summary_text=e.summary_text,
        content_text=e.content_text, summary_html=e.summary_html, content_html=e.content_html,
        categories=e.categories, language=e.language, first_seen=_NO_DATE, changed_at=None,
        changes=0, outlet=e.outlet, outlet_url=e.outlet_url)
