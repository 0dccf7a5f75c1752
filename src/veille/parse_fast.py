"""A fast reader for the well-formed RSS 2.0, RSS 1.0 and Atom 1.0 documents that make up
nearly all traffic: lxml in, feedparser-shaped results out, or None when it is not sure.

feedparser stays the reference. This module only replays, on an lxml tree, what feedparser's
strict (SAX) parser does with the elements veille reads, and it reuses feedparser's own
helpers (date parsing, URI joining, its HTML guess, its cp1252 table) so that both paths give
the same values. parse.py turns either result into entries with the same code, so an entry's
identity can never depend on which path read the document (bench/compare_parsers.py proves it
on feedparser's own test corpus).

Anything outside what is replayed here makes `read_fast` return None, and feedparser reads the
document: bytes the two readers would decode differently (see parse_fast_encoding; a media
type feedparser complains of is fine, its complaint is kept), a DTD or entity, a document
that is not well-formed, xml:base, markup inside a text element other than Atom's XHTML,
repeated elements whose precedence feedparser settles by depth, and any element feedparser
has a handler for that is not replayed.
"""

from __future__ import annotations

import re
from typing import Any

from feedparser.mixin import _FeedParserMixin
from feedparser.urls import make_safe_absolute_uri
from feedparser.util import FeedParserDict
from lxml import etree

from . import parse_fast_names as names
from .entry_fingerprint import NOTHING_KNOWN, ItemSkipper, Known
from .parse_fast_dict import FastDict
from .parse_fast_encoding import Decline, check_encoding
from .parse_fast_names import PREFIXES, qualified_name, rss_source
from .parse_fast_texts import EntryTexts
from .parse_fast_values import content_type as _content_type
from .parse_fast_values import fix_text as _fix
from .parse_fast_values import parse_date as _parse_date
from .parse_fast_values import urljoin as _urljoin
from .parse_fast_xhtml import xhtml_text

ATOM = "http://www.w3.org/2005/Atom"
RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"

_HANDLED = {name[7:] for name in dir(_FeedParserMixin) if name.startswith("_start_")} | {
    name[5:] for name in dir(_FeedParserMixin) if name.startswith("_end_")}
_LINK_REF = re.compile("&([A-Za-z0-9_]+);")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_fast(body: bytes, headers: dict[str, str], known: Known = NOTHING_KNOWN
               ) -> FeedParserDict | None:
    """feedparser's result for `body`, for the documents this reader is sure of; else None.

    `headers` are the response headers parse.py hands feedparser (lower-case names). Each
    entry has its item's fingerprint as "_fingerprint"; an item whose fingerprint is `known`
    is left unread, as {"_known": its entry key} (entry_fingerprint.py).
    """
    try:
        return _Reader(body, headers, known).read()
    except (Decline, etree.LxmlError, ValueError, UnicodeError):
        return None
    except Exception:  # noqa: BLE001 - a case this reader did not foresee: feedparser reads it
        return None  # (bench/compare_parsers.py lists such fallbacks by exception type)


class _Reader(EntryTexts):
    """One document. Mirrors the few pieces of feedparser state that matter: the base URI
    (constant, since xml:base is declined), the title depth and the element depth."""

    def __init__(self, body: bytes, headers: dict[str, str], known: Known = NOTHING_KNOWN
                 ) -> None:
        self.data, self.problem = check_encoding(body, headers)
        location = headers.get("content-location", "")
        self.base = make_safe_absolute_uri("", location) or make_safe_absolute_uri(location) or ""
        if self.base and (make_safe_absolute_uri(self.base, self.base) or self.base) != self.base:
            raise Decline("unstable base URI")
        self.atom = self.atom10 = False
        self.depth = 0
        self.title_depth = -1
        self.has_content = False
        self.depth_map: dict[str, int] = {}
        self.feed = FastDict()
        language = headers.get("content-language")
        if language:
            self.feed["language"] = language.replace("_", "-")
        self.entries: list[FeedParserDict] = []
        self.skipper = ItemSkipper(known, self.base)

    # --- the document ------------------------------------------------------------------------

    def read(self) -> FeedParserDict:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False, remove_blank_text=False)
        root = etree.fromstring(self.data, parser)
        info = root.getroottree().docinfo
        if info.doctype or info.internalDTD is not None or info.xml_version not in (None, "1.0"):
            raise Decline("a DTD")
        namespaces = {str(uri).lower() for uri in root.nsmap.values()}
        if any(str(u).lower().find("backend.userland.com/rss") != -1 for u in namespaces):
            raise Decline("userland namespace")
        self.depth = 1
        name = self.name(root)
        attrs = self.attrs(root)
        if name == "rss" and root.tag == "rss":
            if namespaces & {RSS1, _RSS090}:
                raise Decline("RSS with an RSS 1.0 namespace")
            version = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"
                       }.get(attrs.get("version", ""))
            version = version or ("rss20" if attrs.get("version", "").startswith("2.") else "rss")
            self.root_language(attrs, "rss")
            children = self.elements(root)
            if [self.name(c) for c in children] != ["channel"]:
                raise Decline("rss without exactly one channel")
            self.depth += 1
            self.channel(children[0])
            self.depth -= 1
        elif root.tag == f"{{{RDF}}}RDF":
            if RSS1 not in {str(u) for u in root.nsmap.values()} or namespaces & {ATOM.lower(),
                                                                                _RSS090}:
                raise Decline("RDF that is not plainly RSS 1.0")
            version = "rss10"
            self.root_language(attrs, "rdf:RDF")
            self.depth += 1
            for child in self.elements(root):
                self.rdf_child(child)
            self.depth -= 1
        elif root.tag == f"{{{ATOM}}}feed":
            if namespaces & {RSS1, _RSS090}:
                raise Decline("Atom with an RSS 1.0 namespace")
            self.atom = True
            version = "atom10" if ATOM.lower() in namespaces else "atom"
            self.atom10 = version == "atom10"
            self.root_language(attrs, "feed")
            self.channel(root)
        else:
            raise Decline("not RSS 2.0, RSS 1.0 or Atom 1.0")
        result = FastDict(bozo=False, version=version, feed=self.feed,
                                entries=self.entries, encoding="utf-8", namespaces={}, headers={})
        if self.problem is not None:
            result.update(bozo=True, bozo_exception=self.problem)
        if self.skipper.skipped:
            result.update(_skipped=self.skipper.skipped, _seed_language=self.skipper.seed_language)
        return result

    def root_language(self, attrs: dict[str, str], tag: str) -> None:
        if any(k.split(":")[-1] == "lang" for k in attrs if k not in ("xml:lang", "lang")):
            raise Decline("a lang attribute in another namespace")
        lang = attrs.get("xml:lang", attrs.get("lang"))
        if lang:
            self.feed["language"] = lang.replace("_", "-")

    def rdf_child(self, el: Any) -> None:
        name = self.name(el)
        if name == "channel":
            self.channel(el)
        elif name == "item":
            self.entry(el)
        elif name in ("image", "textinput"):
            self.box(el, name)
        else:
            self.harmless(el, name, names.FEED_KEYS)

    # --- names and attributes as feedparser's strict parser spells them -----------------------

    def elements(self, el: Any) -> list[Any]:
        """Element children; a comment or processing instruction among them is harmless."""
        return [c for c in el if isinstance(c.tag, str)]

    def name(self, el: Any) -> str:
        tag = el.tag
        if not isinstance(tag, str):
            raise Decline("not an element")
        if tag[0] != "{":
            return tag.lower()
        name = qualified_name(tag, el.prefix)
        if name is None:
            raise Decline(f"unknown namespace in {tag}")
        return name

    def attrs(self, el: Any) -> dict[str, str]:
        """feedparser's attrs_d: namespaced names by its prefixes, then by the qualified names
        the document used, all lower-case; rel and type values lower-case too."""
        found: dict[str, str] = {}
        if not el.attrib:
            return found
        reverse: dict[str, list[str]] = {}
        for prefix, uri in el.nsmap.items():
            reverse.setdefault(uri, []).append(prefix or "")
        qnames: dict[str, str] = {}
        for key, value in el.attrib.items():
            if key.startswith("{"):
                uri, local = key[1:].split("}", 1)
                prefix = PREFIXES.get(uri.lower(), "")
                found[(f"{prefix}:{local}" if prefix else local).lower()] = value
                given = ["xml"] if uri == "http://www.w3.org/XML/1998/namespace" else reverse.get(
                    uri, [])
                if len(given) != 1 or not given[0]:
                    raise Decline("an attribute whose prefix is ambiguous")
                qnames[f"{given[0]}:{local}".lower()] = value
            else:
                qnames[key.lower()] = value
        found.update(qnames)
        if "xml:base" in found or "base" in found:
            raise Decline("xml:base")
        for key in ("rel", "type"):
            if key in found:
                found[key] = found[key].lower()
        return found

    def text(self, el: Any) -> str:
        """The text of a leaf, stripped as feedparser's pop() strips it."""
        if len(el):
            raise Decline("markup or a comment inside a text element")
        self.attrs(el)
        return (el.text or "").strip()

    def harmless(self, el: Any, name: str, keys: frozenset[str],
                 handled: set[str] | frozenset[str] = frozenset()) -> None:
        """An element veille does not read: one feedparser has an analysed handler for
        (`handled`, a leaf), or one it stores under a key nothing reads."""
        self.attrs(el)
        if name in handled:
            if len(el):
                raise Decline(f"children in <{name}>")
            return
        key = name.lstrip("?").replace(":", "_")
        if key in _HANDLED or key in keys:
            raise Decline(f"<{name}> is not replayed")
        allowed = names.NESTED.get(name, set())
        for child in el.iterdescendants():
            if isinstance(child.tag, str):
                if self.name(child) not in allowed:
                    raise Decline(f"children in <{name}>")
                self.attrs(child)

    # --- shared element logic ----------------------------------------------------------------

    def text_construct(self, el: Any, default: str) -> tuple[str, str]:
        """(value, content type) of a title, summary or content, as feedparser's pop() makes
        them: RSS text that looks like HTML is HTML (feedparser's own guess)."""
        attrs = self.attrs(el)
        if "mode" in attrs or "src" in attrs:
            raise Decline("base64 or out-of-line content")
        kind = _content_type(attrs.get("type", default))
        if kind == "application/xhtml+xml" and self.atom:
            return _fix(xhtml_text(el, self.atom10, _HANDLED)), kind
        if kind not in ("text/plain", "text/html"):
            raise Decline(f"content of type {kind}")
        value = self.text(el)
        if not self.atom and kind == "text/plain" and _FeedParserMixin.looks_like_html(value):
            kind = "text/html"
        return _fix(value), kind

    def detail(self, kind: str, value: str) -> FeedParserDict:
        return FastDict(type=kind, language=None, base=self.base, value=value)

    def title(self, el: Any, context: FeedParserDict) -> None:
        value, kind = self.text_construct(el, "text/plain")
        if not -1 < self.title_depth <= self.depth:
            context["title"] = value
            context["title_detail"] = self.detail(kind, value)
        if value:
            self.title_depth = self.depth

    def link(self, el: Any, context: FeedParserDict, in_entry: bool) -> None:
        """An Atom link (href) or an RSS one (text); the last alternate one wins, as in
        feedparser, which assigns it each time."""
        attrs = self.attrs(el)
        if "url" in attrs or "uri" in attrs:
            raise Decline("a link with url/uri")
        if "href" in attrs:
            if len(el):
                raise Decline("children in <link>")
            rel = attrs.get("rel", "alternate")
            kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
            if rel == "alternate" and _content_type(kind) in _HTML_TYPES:
                context["link"] = _urljoin(self.base, attrs["href"])
            elif rel in ("hub", "self") and not in_entry:  # WebSub's (parse._push_links)
                context.setdefault("links", []).append(FastDict(
                    rel=rel, type=kind, href=_urljoin(self.base, attrs["href"])))
            return
        value = self.text(el)
        if value:
            value = _urljoin(self.base, value)
        value = _fix(value)
        if in_entry:
            value = value.replace("&amp;", "&")
        context["link"] = _LINK_REF.sub(r"&\g<1>", value) if "&" in value else value

    def guid(self, el: Any, context: FeedParserDict) -> None:
        is_link = self.attrs(el).get("ispermalink", "true") == "true"
        value = self.text(el)
        if value and is_link:
            value = _urljoin(self.base, value)
        value = _fix(value)
        context["id"] = value
        context.setdefault("guidislink", is_link and "link" not in context)
        if is_link:
            context.setdefault("link", value)

    def person(self, el: Any, context: FeedParserDict) -> None:
        """<author> as text (RSS) or with name/email/uri children (Atom), replaying
        feedparser's _sync_author_detail: "name (email)", the name, the email, or the text."""
        self.attrs(el)
        children = self.elements(el)
        if not children:
            context["author"] = _fix(self.text(el))
            return
        if len(children) != len(el) or (el.text or "").strip() or any(
                (c.tail or "").strip() for c in children):
            raise Decline("mixed text and elements in an author")
        detail: dict[str, str] = {}
        for child in children:
            name = self.name(child)
            if name not in names.PERSON:
                raise Decline(f"<{name}> in an author")
            value = self.text(child)
            if name in ("uri", "url", "homepage"):
                detail["href"] = _fix(_urljoin(self.base, value) if value else value)
            else:
                detail[name] = _fix(value)
        person, email = detail.get("name", ""), detail.get("email", "")
        context["author"] = f"{person} ({email})" if person and email else person or email

    def category(self, el: Any, context: FeedParserDict) -> None:
        """feedparser's _start_category/_end_category: a tag from term/scheme/label
        attributes, then the text fills a tag without a term or adds one (deduplicated)."""
        attrs = self.attrs(el)
        tags = context.setdefault("tags", [])
        self.add_tag(tags, attrs.get("term"), attrs.get("scheme", attrs.get("domain")),
                     attrs.get("label"))
        value = _fix(self.text(el))
        if not value:
            return
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self.add_tag(tags, value, None, None)

    @staticmethod
    def add_tag(tags: list[FeedParserDict], term: str | None, scheme: str | None,
                label: str | None) -> None:
        if not term and not scheme and not label:
            return
        tag = FastDict(term=term, scheme=scheme, label=label)
        if tag not in tags:
            tags.append(tag)

    def date(self, el: Any, context: FeedParserDict, key: str) -> None:
        context[key] = _parse_date(_fix(self.text(el)))

    # --- channel / feed ----------------------------------------------------------------------

    def channel(self, el: Any) -> None:
        """An RSS <channel> or the Atom <feed> element, at depth self.depth."""
        attrs = self.attrs(el)
        if "lastmod" in attrs or "href" in attrs:
            raise Decline("CDF attributes")
        seen: set[str] = set()
        for child in self.elements(el):
            self.depth += 1
            self.feed_child(child, seen)
            self.depth -= 1

    def feed_child(self, child: Any, seen: set[str]) -> None:
        name = self.name(child)
        feed = self.feed
        if name in names.TITLE | {"ttl", "sy:updateperiod", "sy:updatefrequency", "id"}:
            if name in seen or (name in names.TITLE and seen & names.TITLE):
                raise Decline(f"two <{name}> in the feed")
            seen.add(name)
        if name in names.TITLE:
            self.title(child, feed)
        elif name == "link":
            self.link(child, feed, in_entry=False)
        elif name == "id" and self.atom:
            self.guid(child, feed)
        elif name in ("language", "dc:language"):
            feed["language"] = _fix(self.text(child))
        elif name in ("ttl", "sy:updateperiod", "sy:updatefrequency"):
            if child.attrib:
                raise Decline(f"attributes on <{name}>")
            feed[name.replace(":", "_")] = _fix(self.text(child))
        elif name == ("entry" if self.atom else "item"):
            self.entry(child)
        elif name in ("image", "textinput") and not self.atom:
            self.box(child, name)
        elif name in ("author", "contributor", "managingeditor"):
            self.person(child, FastDict())  # feed-level authors are not read
        elif name == "items" and not self.atom:
            self.harmless(child, name, names.FEED_KEYS)
        else:
            self.harmless(child, name, names.FEED_KEYS, names.FEED_HARMLESS)

    def box(self, el: Any, name: str) -> None:
        """<image> or <textInput>: their children land in their own dictionary, as long as
        none of them makes feedparser leave it early (its "special hack")."""
        self.attrs(el)
        allowed = names.IMAGE_CHILDREN if name == "image" else names.TEXTINPUT_CHILDREN
        self.title_depth = -1
        self.depth += 1
        for child in self.elements(el):
            child_name = self.name(child)
            if child_name not in allowed:
                raise Decline(f"<{child_name}> in <{name}>")
            self.text(child)
            if child_name == "title":
                value = _fix(self.text(child))
                if value:
                    self.title_depth = self.depth
        self.depth -= 1

    # --- entries -----------------------------------------------------------------------------

    def entry(self, el: Any) -> None:
        attrs = self.attrs(el)
        if "lastmod" in attrs or "href" in attrs:
            raise Decline("CDF attributes")
        fingerprint, known = self.skipper.check(el, self.feed.get("language"))
        if known is not None:
            self.entries.append(FastDict(_known=known))
            return
        entry = FastDict(_fingerprint=fingerprint)
        self.entries.append(entry)
        self.title_depth = -1
        self.depth_map = {}
        about = attrs.get("rdf:about")
        if about:
            entry["id"] = about
        seen: set[str] = {"guid"} if about else set()
        for child in self.elements(el):
            self.depth += 1
            self.entry_child(child, entry, seen)
            self.depth -= 1
        self.has_content = False  # feedparser's _end_item

    def entry_child(self, child: Any, entry: FeedParserDict, seen: set[str]) -> None:
        name = self.name(child)
        slot = "author" if name in names.AUTHOR else "guid" if name in ("guid", "id") else None
        if slot:
            if slot in seen:
                raise Decline(f"two <{name}> in an entry")
            seen.add(slot)
        if name in names.TITLE:
            self.entry_title(child, entry)
        elif name == "link":
            self.link(child, entry, in_entry=True)
        elif name in ("guid", "id"):
            self.guid(child, entry)
        elif name in names.SUMMARY:
            self.description(child, entry, names.SUMMARY[name])
        elif name in names.CONTENT:
            self.content(child, entry, names.CONTENT[name])
        elif name.startswith("media:"):
            self.media(child, entry)
        elif name in names.PUBLISHED:
            self.date(child, entry, "published_parsed")
        elif name in names.UPDATED:
            self.date(child, entry, "updated_parsed")
        elif name in names.CREATED:
            self.date(child, entry, "created_parsed")
        elif name in names.AUTHOR:
            self.person(child, entry)
        elif name in names.CATEGORY:
            self.category(child, entry)
        elif name == "source":
            # RSS 2.0's <source url>outlet</source> (Google News): feedparser keeps it apart
            # and forgets the title depth; an Atom source has children and is declined
            self.harmless(child, name, names.ENTRY_KEYS, {"source"})
            self.title_depth = -1
            entry["source"] = rss_source(child)
        else:
            self.harmless(child, name, names.ENTRY_KEYS, names.ENTRY_HARMLESS)
