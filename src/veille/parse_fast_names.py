"""What the fast parse path calls an element, and one element's value, as feedparser does:
its namespace prefixes (an element of a namespace it knows gets its own prefix, whatever the
document wrote) and the RSS <source> it keeps apart.
"""

from __future__ import annotations

import functools
from typing import Any

from feedparser.mixin import _FeedParserMixin
from feedparser.util import FeedParserDict

# feedparser's namespace table, as its strict parser matches it (lower-cased URIs)
PREFIXES = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_KNOWN_PREFIXES = {p.lower() for p in PREFIXES.values() if p}


@functools.lru_cache(maxsize=512)
def qualified_name(tag: str, given: str | None) -> str | None:
    """feedparser's name for a namespaced element: its own prefix for a namespace it knows,
    else the document's (None when that would be mistaken for a known one)."""
    uri, local = tag[1:].split("}", 1)
    local = local.lower()
    prefix = PREFIXES.get(uri.lower())
    if prefix is None:
        given = (given or "").lower()
        return None if not given or given in _KNOWN_PREFIXES else f"?{given}:{local}"
    return f"{prefix.lower()}:{local}" if prefix else local


def rss_source(el: Any) -> FeedParserDict:
    """What feedparser keeps of <source url="…">Le Monde</source>: its `href` and `title`,
    which outlets.credit reads to credit the entry to that outlet."""
    source = FeedParserDict()
    if el.get("url") is not None:
        source["href"] = el.get("url")
    source["title"] = el.text or ""
    return source
