"""Autodiscovery for `veille feeds add`: from a site's address to the feeds it publishes.

    fetch URL ─┬─ a feed ─────────────────────────────── that feed
               ├─ a page advertising <link rel=alternate> ─ those links, each checked
               └─ anything else ──────────────────────── /feed /rss /rss.xml /atom.xml /index.xml

Requests go through the Fetcher, so [fetch] limits and `allow_private` apply to the page, to
the links it advertises and to every redirect. Nothing is written here: the CLI decides what
to add to the OPML.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

from .errors import DiscoveryError
from .fetch import Fetcher, FetchRequest
from .models import FetchResult, ParsedFeed
from .outcomes import FetchStatus
from .parse_failure import NotAFeed, ParseFailure
from .parser_pool import parse_feed

COMMON_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/index.xml")


@dataclass(frozen=True)
class Candidate:
    """A feed address found, and what checking it gave: its title, or why it failed."""

    url: str
    title: str = ""
    problem: str | None = None  # None: it answered as a feed (or was not checked)

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Discovery:
    """The feeds found from one address, in the order the page gave them."""

    candidates: tuple[Candidate, ...]
    how: str  # "feed" (the address itself), "advertised" or "common paths"

    @property
    def working(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.ok)


def _failure(result: FetchResult) -> str:
    if result.status is FetchStatus.OK:
        return ""
    kind = f"{result.error_kind}: " if result.error_kind else ""
    return f"{kind}{result.error_message or result.status}"


async def _get(fetcher: Fetcher, url: str) -> tuple[FetchResult, ParsedFeed | ParseFailure | None]:
    result = await fetcher.fetch(FetchRequest(url, url))
    if result.status is not FetchStatus.OK or result.body is None:
        return result, None
    return result, parse_feed(result.final_url or url, result.body, result.headers)


async def check(fetcher: Fetcher, url: str) -> Candidate:
    """Whether `url` answers as a feed (an HTTP success that parses as RSS, Atom or JSON Feed)."""
    result, parsed = await _get(fetcher, url)
    if parsed is None:
        return Candidate(url, problem=_failure(result) or "empty answer")
    if isinstance(parsed, ParseFailure):
        return Candidate(url, problem=str(parsed))
    return Candidate(url, parsed.title)


async def _check_all(fetcher: Fetcher, urls: Iterable[str]) -> list[Candidate]:
    return list(await asyncio.gather(*(check(fetcher, u) for u in urls)))


async def discover(fetcher: Fetcher, url: str, *, verify: bool = True) -> Discovery:
    """The feeds `url` is or leads to. Raises DiscoveryError with one clear line when there
    are none: unreachable, no feed advertised and none at the common paths, and so on.
    `verify=False` does not fetch the advertised links (the page itself is still read)."""
    result, parsed = await _get(fetcher, url)
    if parsed is None:
        raise DiscoveryError(url, f"cannot read it ({_failure(result) or 'empty answer'})")
    if isinstance(parsed, ParsedFeed):
        return Discovery((Candidate(url, parsed.title),), "feed")
    advertised = parsed.advertised if isinstance(parsed, NotAFeed) else ()
    if advertised:
        found = await _check_all(fetcher, advertised) if verify else [
            Candidate(u) for u in advertised]
        if not any(c.ok for c in found):
            problems = "; ".join(f"{c.url}: {c.problem}" for c in found)
            raise DiscoveryError(url, f"the feeds this page advertises do not answer as feeds "
                                      f"({problems})")
        return Discovery(tuple(found), "advertised")
    probes = list(dict.fromkeys(urljoin(result.final_url or url, p) for p in COMMON_PATHS))
    working = [c for c in await _check_all(fetcher, probes) if c.ok]
    if not working:
        what = "page" if isinstance(parsed, NotAFeed) else f"address ({parsed})"
        raise DiscoveryError(url, f"no feed advertised on this {what}, and none at "
                                  f"{', '.join(COMMON_PATHS)}")
    return Discovery(tuple(working), "common paths")
