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
from .models import ParsedFeed, stored_entry
from .search import folded_text
from .stories import StoryConfig, StoryKey, story_key, story_lead

if TYPE_CHECKING:
    from .parse_failure import ParseFailure

_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)


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
    if preparation is None or not isinstance(parsed, FoldedFeed):
        return parsed
    return prepare(parsed, url, preparation)


def prepare(parsed: FoldedFeed, url: str, preparation: Preparation) -> FoldedFeed:
    """`parsed` prepared, unless a watchlist reads the feed's name (left to the pass)."""
    matcher, config = preparation.matcher, preparation.stories
    if matcher.reads_feed_names:
        return parsed
    matches, keys = [], []
    for e, folded in zip(parsed.entries, parsed.folded, strict=True):
        # matching reads no date, nor (without `source:` terms) the feed's name
        entry = stored_entry(0, url, "", e, _NO_DATE, True, _NO_DATE, None, 0)
        found = tuple(matcher.match(entry, folded_text(entry, folded)))
        matches.append(found)
        keys.append(story_key(config, e.title, story_lead(e.summary_text, e.content_text,
                                                          e.outlet), e.link) if found else None)
    return PreparedFeed(**{f.name: getattr(parsed, f.name) for f in fields(FoldedFeed)},
                        matched_by=matcher.key, story_settings=story_settings(config),
                        matches=tuple(matches), story_keys=tuple(keys))
