"""Aggregator entries credited to the outlet that published them.

Google News (and other aggregators) put the publisher in RSS 2.0's `<source url="…">Le Monde
</source>` and append " - Le Monde" to every title. veille stores the outlet beside the feed,
so that `source:` queries, digests, webhooks and story grouping speak of Le Monde, not of
"Google News". Pure: no I/O. The aggregator's own links (news.google.com/rss/articles/…) are
opaque redirects; they are kept as they are and never fetched to be resolved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .models import ParsedEntry

# what aggregators put between the article's title and the outlet's name
_SEPARATORS = (" - ", " – ", " — ", " | ")


def outlet_of(source: Any) -> tuple[str | None, str | None]:
    """(name, url) from feedparser's `source` of an entry: {'title': …, 'href': …}. A source
    with a URL but no name is named after its host ("lemonde.fr")."""
    if not isinstance(source, dict):
        return None, None
    url = (source.get("href") or "").strip()
    if urlsplit(url).scheme not in ("http", "https"):
        url = ""
    name = " ".join((source.get("title") or "").split()) or host_of(url)
    return (name or None), (url or None)


def host_of(url: str | None) -> str:
    """"https://www.lemonde.fr/x" -> "lemonde.fr"."""
    try:
        host = urlsplit(url or "").hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def strip_outlet(title: str, outlet: str | None) -> str:
    """"Titre - Le Monde" -> "Titre" when the entry is credited to Le Monde. Only the exact
    name is cut (case aside), so a title that merely ends with a dash keeps it."""
    if not outlet:
        return title
    for sep in _SEPARATORS:
        tail = sep + outlet
        if len(title) > len(tail) and title.casefold().endswith(tail.casefold()):
            return title[:-len(tail)].rstrip()
    return title


def credit(entry: ParsedEntry, source: Any) -> ParsedEntry:
    """The entry with its outlet and the outlet's suffix out of its title."""
    name, url = outlet_of(source)
    if name is None and url is None:
        return entry
    return replace(entry, title=strip_outlet(entry.title, name), outlet=name, outlet_url=url)
