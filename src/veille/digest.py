"""Matches -> Digest -> text, Markdown, HTML or JSON. Pure: no I/O, `now` and the zone given.

Feed text is never trusted: templates autoescape everything, only http(s) links become links,
and the HTML body is passed through nh3 with an allowlist of the tags our templates use, so
a template slip cannot let a feed's script, event handler or iframe into a mail client.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import nh3

from . import i18n
from .match import highlight_spans
from .models import StoredMatch
from .normalize import canonical_url, clean_link
from .outlets import host_of

UNTITLED = "(sans titre)"


@dataclass(frozen=True)
class DigestItem:
    title: str
    link: str | None
    feed: str
    published: datetime
    first_seen: datetime
    terms: tuple[str, ...]
    snippet: str
    also_in: tuple[str, ...] = ()
    match_ids: tuple[int, ...] = ()
    feed_url: str = ""
    story_id: int | None = None
    mentions: int = 1  # articles telling this story, the first one included
    outlet: str | None = None  # the publisher an aggregator credits the item to (outlets.py)

    def segments(self) -> list[tuple[str, bool]]:
        """The snippet cut into (text, is_a_matched_term) pieces, for highlighting."""
        return _segments(self.snippet, self.terms)

    def title_segments(self) -> list[tuple[str, bool]]:
        return _segments(self.title, self.terms)

    @property
    def source(self) -> str:
        """Who published it: "Le Figaro (via Google Actualités — Nestlé)" for an aggregator's
        item, the feed's title otherwise."""
        return f"{self.outlet} (via {self.feed})" if self.outlet else self.feed

    def display_title(self, language: str) -> str:
        """The title, or "(sans titre)" in the reader's language: the item itself keeps an
        empty title so that the JSON sent to webhooks does not depend on the language."""
        return self.title or i18n.tr(language, UNTITLED)

    @property
    def safe_link(self) -> str | None:
        """Only http(s) links are ever rendered as links (no javascript:, data:, file:)."""
        if self.link and self.link.lower().startswith(("http://", "https://")):
            return self.link
        return None


@dataclass(frozen=True)
class WatchlistDigest:
    name: str
    description: str
    items: tuple[DigestItem, ...]  # one per story
    match_count: int  # mentions: before merging the same story seen in several feeds

    @property
    def counts(self) -> str:
        """"3 sujets, 7 mentions": what users count is stories, with the mentions beside."""
        return counts(len(self.items), self.match_count)


@dataclass(frozen=True)
class Digest:
    id: str
    generated_at: datetime
    timezone: str
    watchlists: tuple[WatchlistDigest, ...]
    language: str = "fr"  # what its text speaks (i18n.py)

    @property
    def match_count(self) -> int:
        return sum(w.match_count for w in self.watchlists)

    @property
    def counts(self) -> str:
        return i18n.counts(self.language, sum(len(w.items) for w in self.watchlists),
                           self.match_count)

    @property
    def match_ids(self) -> list[int]:
        return [i for w in self.watchlists for item in w.items for i in item.match_ids]


def _segments(text: str, terms: Sequence[str]) -> list[tuple[str, bool]]:
    out, pos = [], 0
    for start, end in highlight_spans(text, terms):
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def counts(stories: int, mentions: int) -> str:
    return i18n.counts("fr", stories, mentions)


def story_key(m: StoredMatch) -> str:
    """The story found at ingest (stories.py); matches from before stories existed, or with
    grouping off, fall back to the special case of one canonical link."""
    if m.story_id is not None:
        return f"story:{m.story_id}"
    return "link:" + canonical_url(m.entry.link) if m.entry.link else f"entry:{m.entry.id}"


def _other_outlets(group: Sequence[StoredMatch]) -> tuple[str, ...]:
    """The "also in" names, each once, the story's first one left out. An outlet credited by
    an aggregator is the same publisher as a feed of its site: "Le Monde" via Google News and
    the "Le Monde.fr" feed are both lemonde.fr. (Plain feeds compare by name, as before.)"""
    names: set[str] = set()
    outlet_hosts: set[str] = set()  # sites of credited outlets
    link_hosts: set[str] = set()  # sites of the articles of plain feeds
    out: list[str] = []
    for i, m in enumerate(group):
        e = m.entry
        name = e.source_name
        if e.outlet:
            host = host_of(e.outlet_url)
            same = name in names or (bool(host) and host in outlet_hosts | link_hosts)
            outlet_hosts.add(host)
        else:
            host = host_of(e.link)
            same = name in names or (bool(host) and host in outlet_hosts)
            link_hosts.add(host)
        if i and not same:
            out.append(name)
        names.add(name)
    return tuple(out)


def merge_stories(matches: Sequence[StoredMatch]) -> list[DigestItem]:
    """One item per story, the newest stories first. An item shows the story's earliest
    article, the one that broke it; the other outlets are listed under "also in"."""
    groups: dict[str, list[StoredMatch]] = {}
    for m in sorted(matches, key=lambda m: (m.entry.published, m.entry.first_seen, m.id)):
        groups.setdefault(story_key(m), []).append(m)
    items = []
    for group in sorted(groups.values(), key=lambda g: max((m.entry.published, m.id) for m in g),
                        reverse=True):
        first = group[0]
        e = first.entry
        others = _other_outlets(group)
        terms = tuple(dict.fromkeys(t for m in group for t in m.terms))
        items.append(DigestItem(
            title=e.title, link=shown_link(e.link),
            feed=e.feed_title or e.feed_url, published=e.published, first_seen=e.first_seen,
            terms=terms, snippet=first.snippet, also_in=others,
            match_ids=tuple(m.id for m in group), feed_url=e.feed_url, story_id=first.story_id,
            mentions=len(group), outlet=e.outlet))
    return items


def shown_link(link: str | None) -> str | None:
    """The link people are sent: http(s) only, without tracking. A `javascript:` or `data:`
    link from a feed reaches no format, not even as text or JSON (a chat client or a
    webhook consumer could make it clickable)."""
    if not link or not link.lower().startswith(("http://", "https://")):
        return None
    return clean_link(link)


def digest_id(parts: Iterable[str]) -> str:
    """Stable for the same content, so a retried delivery carries the same id."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def build_digest(groups: Sequence[tuple[str, str, Sequence[StoredMatch]]], now: datetime,
                 timezone: str, digest_id_: str | None = None, language: str = "fr") -> Digest:
    """`groups`: (watchlist name, description, its matches), in the order to show them."""
    watchlists = tuple(WatchlistDigest(name, description, tuple(merge_stories(matches)),
                                       len(matches)) for name, description, matches in groups)
    ids = [str(m.id) for _, _, matches in groups for m in matches]
    return Digest(digest_id_ or digest_id([*(g[0] for g in groups), *sorted(ids)]), now,
                  timezone, watchlists, language)


# --- rendering --------------------------------------------------------------------------------

@cache
def _env() -> Any:
    """The templates, loaded when a digest is first rendered: importing Jinja2 costs a
    tenth of a second that `veille fetch` and most commands never need."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("veille", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = md_escape
    return env

_HTML_TAGS = {"div", "span", "p", "a", "h1", "h2", "h3", "table", "tr", "td", "tbody", "mark",
              "strong", "em", "small", "br", "ul", "li", "hr"}


_MD_INLINE = re.compile(r"([\\`*_\[\]#|~])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+>=])")


def md_escape(text: str) -> str:
    """Feed text as Markdown shows it literally: what CommonMark would read as emphasis,
    code, a link or a table is backslash-escaped, and so is what would start a list, a quote
    or a heading at the start of a line; &, < and > are written as entities (raw HTML and
    entities otherwise; Python-Markdown does not take backslashes before them)."""
    text = _MD_INLINE.sub(r"\\\1", re.sub("[&<>]", lambda m: _MD_ENTITIES[m[0]], text))
    return _MD_LINE_START.sub(lambda m: (f"{m[1]}{m[2]}\\{m[3]}" if m[2] is not None
                                         else f"{m[4]}\\{m[5]}"), text)


def md_link(url: str) -> str:
    """A link target inside <…>: what would end it (a space, <, >) percent-encoded."""
    return url.replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")


def md_snippet(item: DigestItem) -> str:
    """The snippet in Markdown, matched terms in bold."""
    return "".join(f"**{md_escape(t)}**" if hit else md_escape(t)
                   for t, hit in item.segments())


def _context(digest: Digest) -> dict[str, Any]:
    tz, lang = ZoneInfo(digest.timezone), digest.language
    return {"digest": digest, "local": lambda d: i18n.format_datetime(d, tz, lang),
            "plural": lambda n, one, many: one if n == 1 else many, "lang": lang,
            "t": lambda text: i18n.tr(lang, text), "colon": i18n.colon(lang),
            "counts": lambda w: i18n.counts(lang, len(w.items), w.match_count),
            "title": lambda item: item.display_title(lang), "md_snippet": md_snippet,
            "md_link": md_link}


def subject(digest: Digest) -> str:
    """`[veille] parti-pirate — 3 sujets, 12 mentions`."""
    if not any(w.items for w in digest.watchlists):
        return f"[veille] {i18n.tr(digest.language, 'message de test')}"
    names = ", ".join(w.name for w in digest.watchlists if w.items) or "veille"
    return f"[veille] {names} — {digest.counts}"


def render_text(digest: Digest) -> str:
    return _env().get_template("digest.txt").render(_context(digest))


def render_markdown(digest: Digest) -> str:
    return _env().get_template("digest.md").render(_context(digest))


def render_html(digest: Digest) -> str:
    """A full HTML document with inline CSS (mail clients drop <style> and external sheets)."""
    body = _env().get_template("digest_body.html").render(_context(digest))
    clean = nh3.clean(body, tags=_HTML_TAGS, attributes={"*": {"style"}, "a": {"href"}},
                      url_schemes={"http", "https"}, link_rel="noopener noreferrer",
                      strip_comments=True)
    return _env().get_template("digest.html").render(body=clean, title=subject(digest),
                                                     lang=digest.language)


def item_json(item: DigestItem) -> dict[str, Any]:
    return {"title": item.title, "link": item.link, "feed": item.feed, "feed_url": item.feed_url,
            "published": item.published.isoformat(), "first_seen": item.first_seen.isoformat(),
            "terms": list(item.terms), "snippet": item.snippet, "also_in": list(item.also_in),
            "story_id": item.story_id, "mentions": item.mentions, "outlet": item.outlet}


def render_json(digest: Digest) -> dict[str, Any]:
    return {"id": digest.id, "generated_at": digest.generated_at.isoformat(),
            "watchlists": [{"name": w.name, "count": w.match_count, "stories": len(w.items),
                            "matches": [item_json(i) for i in w.items]}
                           for w in digest.watchlists]}


def webhook_payload(digest: Digest) -> dict[str, Any]:
    """One watchlist per delivery: {"id", "kind", "watchlist", "generated_at", "matches"}."""
    w = digest.watchlists[0]
    return {"id": digest.id, "kind": "digest", "watchlist": w.name,
            "generated_at": digest.generated_at.isoformat(),
            "matches": [item_json(i) for i in w.items]}


def short_text(digest: Digest, limit: int = 20) -> str:
    """Chat services want a few lines: title and link per match."""
    lines = []
    for w in digest.watchlists:
        if not w.items and w.description:  # `veille channels test`: say so, not nothing
            lines.append(w.description)
        for item in w.items[:limit]:
            lines.append(f"• {item.display_title(digest.language)} — {item.source}\n"
                         f"  {item.link or ''}".rstrip())
        if len(w.items) > limit:
            left = len(w.items) - limit
            more = i18n.plural(digest.language, left, "et {n} autre", "et {n} autres")
            lines.append("… " + more.replace("{n}", str(left)))
    return "\n".join(lines)
