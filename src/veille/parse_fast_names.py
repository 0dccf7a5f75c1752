"""What the fast parse path calls an element, as feedparser does: its namespace prefixes (an
element of a namespace it knows gets its own prefix, whatever the document wrote), the names
it reads as titles, summaries, dates, people…, those it may pass over, and the RSS <source>
it keeps apart.
"""

from __future__ import annotations

import functools
from typing import Any

from feedparser.mixin import _FeedParserMixin
from feedparser.util import FeedParserDict

from .parse_fast_dict import FastDict

# feedparser's namespace table, as its strict parser matches it (lower-cased URIs)
PREFIXES = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_KNOWN_PREFIXES = {p.lower() for p in PREFIXES.values() if p}

# Keys parse.py reads from an entry (and the keymap spellings that alias them): an element
# feedparser stores generically under one of these names is not harmless.
ENTRY_KEYS = frozenset(
    "link links id guid guidislink title title_detail summary summary_detail description "
    "description_detail content author author_detail authors published published_parsed created "
    "created_parsed updated updated_parsed date date_parsed modified modified_parsed issued "
    "issued_parsed tags category language enclosures license".split())
FEED_KEYS = frozenset("title title_detail link links id language ttl sy_updateperiod "
                      "sy_updatefrequency entries image textinput".split())
TITLE = {"title", "dc:title"}
SUMMARY = {"description": "text/html", "dc:description": "text/html", "summary": "text/plain"}
CONTENT = {"content:encoded": "text/html", "content": "text/plain"}
PUBLISHED = {"pubdate", "published", "issued", "dcterms:issued"}
UPDATED = {"updated", "modified", "lastbuilddate", "dc:date", "dcterms:modified"}
CREATED = {"created", "dcterms:created"}
AUTHOR = {"author", "dc:creator", "dc:author", "managingeditor"}
CATEGORY = {"category", "dc:subject", "keywords"}
PERSON = {"name", "email", "uri", "url", "homepage"}
# elements feedparser has a handler for whose effects never reach what veille reads (leaves)
ENTRY_HARMLESS = {"enclosure", "rights", "copyright", "expirationdate"}
FEED_HARMLESS = {"description", "subtitle", "tagline", "rights", "copyright", "generator",
                 "webmaster", "dc:publisher", "dc:rights", "category", "dc:subject", "cloud",
                 "pubdate", "lastbuilddate", "updated", "published", "modified", "dc:date",
                 "dcterms:modified", "enclosure", "media:thumbnail", "media:content",
                 "expirationdate"}
# generic elements whose children are generic too (RSS 1.0's item list, RSS 2.0's skip lists)
NESTED = {"items": {"rdf:seq", "rdf:li"}, "skiphours": {"hour"}, "skipdays": {"day"}}
IMAGE_CHILDREN = {"url", "title", "link", "width", "height", "description"}
TEXTINPUT_CHILDREN = {"title", "description", "name", "link"}


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
    source = FastDict()
    if el.get("url") is not None:
        source["href"] = el.get("url")
    source["title"] = el.text or ""
    return source
