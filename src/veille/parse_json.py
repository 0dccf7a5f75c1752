"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org) -> the same ParsedFeed as RSS and Atom.

Same rules as parse.py: HTML is sanitized by nh3, plain text is escaped, titles are plain
text, entries keep their identity by `id` (else link, else a hash), a repeated entry is kept
once. Like parse.py it runs in the parser processes and reports failure as a value (a
message string, which parse.py wraps in its ParseFailure).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape
from typing import Any

from .models import ParsedEntry, ParsedFeed
from .normalize import entry_key, html_to_text
from .sanitize import clean_html

JSON_TYPES = ("application/feed+json", "application/json")
_VERSION_PREFIX = "https://jsonfeed.org/version/"


def looks_like_json(body: bytes, headers: dict[str, str]) -> bool:
    """A body whose first non-space byte is `{` (servers often say text/plain or
    application/octet-stream for feed.json), or one served as JSON that does not start with
    `<` (an RSS file mislabelled application/json is still RSS)."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    start = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"{") or (media_type in JSON_TYPES and not start.startswith(b"<"))


#: half of a UTF-16 pair, which JSON may escape alone ("\ud800")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _str(value: Any) -> str:
    """A string field; numbers are accepted (some feeds write `"id": 123`), anything else is
    ignored rather than failing the whole feed. A lone surrogate becomes U+FFFD, as a
    decoder does with a bad byte: such a string cannot be encoded, so neither sanitized,
    hashed into a key nor stored."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _date(value: Any) -> datetime | None:
    """RFC 3339, as the spec requires; a date without an offset is taken as UTC."""
    text = _str(value).strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):  # year 1 at +01:00 is before datetime.min in UTC
        return None


def _authors(obj: dict[str, Any]) -> str | None:
    """1.1's `authors` list, else 1.0's single `author` object: the names, comma-joined."""
    found = obj.get("authors")
    people = found if isinstance(found, list) else [obj.get("author")]
    names = [" ".join(_str(p.get("name")).split()) for p in people if isinstance(p, dict)]
    return ", ".join(n for n in names if n) or None


def _entry(item: dict[str, Any], feed_language: str | None, feed_author: str | None
           ) -> ParsedEntry:
    content_html = _str(item.get("content_html"))
    body = clean_html(content_html) if content_html.strip() else escape(
        _str(item.get("content_text")))
    summary = _str(item.get("summary")).strip()
    # feedparser gives an Atom entry with content only its content as summary too; the same
    # here, so that digests and story grouping have a lead for every format
    summary_html = escape(summary) if summary else body
    content = body if summary else ""
    title = " ".join(_str(item.get("title")).split())
    link = (_str(item.get("url")) or _str(item.get("external_url"))).strip() or None
    guid = _str(item.get("id")).strip() or None
    summary_text, content_text = html_to_text(summary_html), html_to_text(content)
    tags = item.get("tags")
    return ParsedEntry(
        key=entry_key(guid, link, title, summary_text + content_text),
        guid=guid,
        title=title,
        link=link,
        author=_authors(item) or feed_author,
        published=_date(item.get("date_published")) or _date(item.get("date_modified")),
        updated=_date(item.get("date_modified")),
        summary_html=summary_html,
        summary_text=summary_text,
        content_html=content,
        content_text=content_text,
        categories=tuple(_str(t).strip() for t in tags if isinstance(t, str) and t.strip())
        if isinstance(tags, list) else (),
        language=_str(item.get("language")) or feed_language,
    )


def parse_json_feed(url: str, body: bytes, headers: dict[str, str]) -> ParsedFeed | str:
    """A JSON Feed document, or the message saying why it is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        return f"not a feed (JSON that does not parse: {e})"
    if not isinstance(doc, dict) or not (
            _str(doc.get("version")).startswith(_VERSION_PREFIX)
            or isinstance(doc.get("items"), list)):
        return "not a feed (JSON, but not a JSON Feed: no version nor items)"
    language = _str(doc.get("language")) or headers.get("content-language") or None
    feed_author = _authors(doc)
    entries: dict[str, ParsedEntry] = {}
    items = doc.get("items")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            parsed = _entry(item, language, feed_author)
            entries.setdefault(parsed.key, parsed)  # repeated: keep the first, like parse.py
    return ParsedFeed(
        title=" ".join(_str(doc.get("title")).split()),
        link=_str(doc.get("home_page_url")).strip() or None,
        language=language,
        ttl=None,
        entries=tuple(entries.values()),
    )
