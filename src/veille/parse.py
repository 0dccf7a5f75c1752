"""feedparser -> ParsedFeed: bytes and response headers in, plain dataclasses out.

Runs in worker processes (it is the costly step of a poll), so it takes and returns only
picklable values and reports failure as a value rather than an exception.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from .char_refs import repair_char_refs
from .entry_fingerprint import NOTHING_KNOWN, Known
from .feedparser_guard import install as _guard_feedparser
from .models import ParsedEntry, ParsedFeed
from .normalize import entry_key, html_to_text
from .outlets import credit
from .parse_failure import NotAFeed, ParseFailure
from .parse_fast import read_fast
from .parse_json import looks_like_json, parse_json_feed
from .sanitize import clean_html

_guard_feedparser()  # a stray end tag drops its element, not the feed (feedparser_guard.py)

# feedparser would otherwise try to fetch a URL given as a string; we only hand it bytes.
_HEADER_NAMES = ("content-type", "content-location", "content-language", "content-encoding")
_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000,
            "yearly": 31536000}


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _text(detail: dict[str, Any] | None, value: str) -> str:
    """A title or author as plain text, whether the feed declared it text or HTML."""
    if detail and detail.get("type") in ("text/html", "application/xhtml+xml"):
        return html_to_text(clean_html(value))
    return " ".join(value.split())


def _as_html(detail: dict[str, Any]) -> str:
    """Feed HTML, sanitized by nh3 (feedparser's own sanitizer is several times slower), or
    plain text escaped. No script, event handler or javascript: URL is ever stored."""
    value = detail.get("value", "") or ""
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return clean_html(value) if value else ""
    return escape(value)


def _entry(e: Any, feed_language: str | None) -> ParsedEntry:
    summary_html = _as_html(e.get("summary_detail") or {"value": e.get("summary", ""),
                                                         "type": "text/html"})
    contents = [_as_html(c) for c in e.get("content", []) if c.get("value")]
    content_html = "\n".join(c for c in contents if c != summary_html)
    title = _text(e.get("title_detail"), e.get("title", "") or "")
    link = (e.get("link") or "").strip() or None
    summary_text = html_to_text(summary_html)
    content_text = html_to_text(content_html)
    guid = (e.get("id") or "").strip() or None
    return ParsedEntry(
        key=entry_key(guid, link, title, summary_text + content_text),
        guid=guid,
        title=title,
        link=link,
        author=_text(e.get("author_detail"), e.get("author", "") or "") or None,
        # RSS 1.0's dc:date reaches feedparser as "updated": it is the only date such feeds give
        published=(_datetime(e.get("published_parsed")) or _datetime(e.get("created_parsed"))
                   or _datetime(e.get("updated_parsed"))),
        updated=_datetime(e.get("updated_parsed")),
        summary_html=summary_html,
        summary_text=summary_text,
        content_html=content_html,
        content_text=content_text,
        categories=tuple(t.get("term") or t.get("label") for t in e.get("tags", [])
                         if t.get("term") or t.get("label")),
        language=(e.get("language") or feed_language or None),
        fingerprint=e.get("_fingerprint"),
    )


def _ttl(feed: Any) -> float | None:
    """Seconds between updates the feed asks for: RSS <ttl> (minutes) or sy:updatePeriod."""
    try:
        if feed.get("ttl"):
            return float(feed["ttl"]) * 60
        period = _PERIODS.get((feed.get("sy_updateperiod") or "").strip().lower())
        if period:
            return period / max(1.0, float(feed.get("sy_updatefrequency") or 1))
    except (TypeError, ValueError, AttributeError):  # an element with attributes is a dict
        pass
    return None


# the comments are matched atomically: backtracking into a run of them is exponential, and
# b"<!---->" * 30 + b"x" held a parser process past its time limit
_HTML_ROOT = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?>(?:<!--.*?-->\s*)*)"
    rb"(?:<!doctype\s+html[\s>]|<html[\s>])", re.I | re.S)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
_HEAD_BYTES = 512 * 1024  # link elements live in <head>; a page is not read past this


def is_html_page(body: bytes, headers: dict[str, str]) -> bool:
    """Served as HTML, or an <html> document whatever its Content-Type says."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return bool(body.strip()) and (media_type in _HTML_TYPES
                                   or _HTML_ROOT.match(body[:4096]) is not None)


class _FeedLinks(HTMLParser):
    """<base href> and <link rel="alternate" type="application/rss+xml…" href> of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: (v or "").strip() for k, v in attrs}
        href = found.get("href")
        if not href:
            return
        if tag == "base" and self.base is None:
            self.base = href
        elif (tag == "link" and "alternate" in found.get("rel", "").lower().split()
              and found.get("type", "").split(";")[0].strip().lower() in _FEED_TYPES):
            self.hrefs.append(href)


def advertised_feeds(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, ...]:
    """The feed links a page advertises, absolute (against <base>, else the page's address),
    http(s) only, each once, in the page's order."""
    head = body[:_HEAD_BYTES]
    cut = re.search(rb"<body[\s>]", head, re.I)
    charset = re.search(r"charset=([\w.:-]+)", headers.get("content-type", ""), re.I)
    try:
        text = head[:cut.start() if cut else None].decode(
            charset.group(1) if charset else "utf-8", "replace")
    except LookupError:
        text = head.decode("utf-8", "replace")
    page = _FeedLinks()
    try:
        page.feed(text)
        page.close()
    except Exception:  # noqa: BLE001 - a hostile page costs its links, never the parse
        pass
    base = urljoin(headers.get("content-location") or url, page.base or "")
    links = (urljoin(base, href) for href in page.hrefs)
    return tuple(dict.fromkeys(u for u in links if urlsplit(u).scheme in ("http", "https")))


def parse_feed(url: str, body: bytes, headers: dict[str, str], fast: bool = True,
               known: Known = NOTHING_KNOWN) -> ParsedFeed | ParseFailure:
    """Parse one feed document. Bozo feeds still yield whatever entries feedparser recovers.

    The fast reader (parse_fast) takes the plain documents it is sure of and gives what
    feedparser would; everything else, and everything with `fast=False`, goes to feedparser.
    The fast reader leaves out the items whose fingerprint is `known` (the store has them:
    entry_fingerprint.py); the entries it gives carry their fingerprint.
    """
    found = _parse(url, body, headers, fast, fallback=True, known=known)
    assert found is not None  # with the fallback, every document gets an answer
    return found


def parse_fast_only(url: str, body: bytes, headers: dict[str, str],
                    known: Known = NOTHING_KNOWN) -> ParsedFeed | ParseFailure | None:
    """What `parse_feed` gives, for the documents the fast reader (or the JSON reader) takes;
    None for the others, which only feedparser reads.

    Cheap and bounded (lxml, no DTD, no entity expansion; linear in the body), so it may run
    in the daemon's own process (parser_pool.py's inline lane); feedparser, slower and with
    hostile-input corners, stays in worker processes that can be killed.
    """
    return _parse(url, body, headers, fast=True, fallback=False, known=known)


def _parse(url: str, body: bytes, headers: dict[str, str], fast: bool, fallback: bool,
           known: Known = NOTHING_KNOWN) -> ParsedFeed | ParseFailure | None:
    if looks_like_json(body, headers):  # JSON Feed (parse_json.py); feedparser reads no JSON
        found = parse_json_feed(url, body, headers)
        return found if isinstance(found, ParsedFeed) else ParseFailure(found)
    response_headers = {k: v for k, v in headers.items() if k in _HEADER_NAMES}
    response_headers.setdefault("content-location", url)
    d = read_fast(body, response_headers, known) if fast else None
    if d is None and not fallback:
        return None
    if d is None:
        try:
            d = feedparser.parse(repair_char_refs(body), response_headers=response_headers,
                                 resolve_relative_uris=False, sanitize_html=False)
        except Exception as e:  # feedparser promises not to raise; hostile input is normal input
            return ParseFailure(f"parser crashed: {type(e).__name__}: {e}")
    problem = d.get("bozo_exception")
    if not d.get("version") and not d.entries:
        if is_html_page(body, headers):
            return NotAFeed(advertised_feeds(url, body, headers))
        kind = headers.get("content-type", "unknown type").split(";")[0]
        reason = f": {problem}" if problem else ""
        return ParseFailure(f"not a feed ({kind}){reason}")
    feed = d.feed
    language = feed.get("language") or headers.get("content-language") or None
    if d.get("_skipped") and d.get("_seed_language") != feed.get("language"):
        # the language the items were fingerprinted with came too early: read them all
        return _parse(url, body, headers, fast, fallback)
    entries: dict[str, ParsedEntry | None] = {}
    for item in d.entries:
        if "_known" in item:  # stored already: left unread (it still counts as seen first)
            entries.setdefault(item["_known"], None)
            continue
        parsed = credit(_entry(item, language), item.get("source"))
        entries.setdefault(parsed.key, parsed)  # a feed that repeats an entry: keep the first
    return ParsedFeed(
        title=_text(feed.get("title_detail"), feed.get("title", "") or ""),
        link=feed.get("link") or None,
        language=language,
        ttl=_ttl(feed),
        entries=tuple(e for e in entries.values() if e is not None),
        warning=f"{type(problem).__name__}: {problem}" if problem else None,
        links=_push_links(feed),
    )


def _push_links(feed: Any) -> tuple[tuple[str, str], ...]:
    """The feed's rel="hub" and rel="self" links (Atom <link>, or <atom:link> in RSS): where
    WebSub pushes come from, and the topic to subscribe to."""
    return tuple((link.get("rel", ""), link.get("href", "")) for link in feed.get("links", [])
                 if link.get("rel") in ("hub", "self") and link.get("href"))
