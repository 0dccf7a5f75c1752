"""An entry's title, summary and content as feedparser settles them when several elements
compete: the first title unless a shallower one follows, a description read as content when
a summary is already there and no content was seen, Media RSS titles and descriptions nested
in <media:content> or <media:group> (French press feeds carry them), and a detail that the
last element always overwrites even when its value loses on depth.
"""

from __future__ import annotations

from typing import Any

from feedparser.util import FeedParserDict

from .parse_fast_encoding import Decline

_MEDIA_LEAVES = {"media:thumbnail", "media:credit"}


class EntryTexts:
    """Mixed into the fast reader: the state feedparser keeps for these elements."""

    depth: int
    title_depth: int
    has_content: bool
    depth_map: dict[str, int]

    def text_construct(self, el: Any, default: str) -> tuple[str, str]:
        raise NotImplementedError

    def detail(self, kind: str, value: str) -> FeedParserDict:
        raise NotImplementedError

    def name(self, el: Any) -> str:
        raise NotImplementedError

    def attrs(self, el: Any) -> dict[str, str]:
        raise NotImplementedError

    def store(self, entry: FeedParserDict, key: str, value: str, kind: str) -> None:
        """feedparser's pop(): the value only if no deeper-or-equal one came first (its
        property_depth_map), the detail whatever the depth."""
        old = self.depth_map.get(key)
        if old is None or self.depth <= old:
            self.depth_map[key] = self.depth
            entry[key] = value
        entry[f"{key}_detail"] = self.detail(kind, value)

    def entry_title(self, el: Any, entry: FeedParserDict) -> None:
        value, kind = self.text_construct(el, "text/plain")
        if not -1 < self.title_depth <= self.depth:
            self.store(entry, "title", value, kind)
        if value:
            self.title_depth = self.depth

    def description(self, el: Any, entry: FeedParserDict, default: str) -> None:
        """<description>, <dc:description>, <media:description> or Atom <summary>: content
        instead when a summary is already there and no content came before."""
        if "summary" in entry and not self.has_content:
            self.content(el, entry, "text/plain")
            return
        value, kind = self.text_construct(el, default)
        self.store(entry, "summary", value, kind)

    def content(self, el: Any, entry: FeedParserDict, default: str) -> None:
        self.has_content = True
        value, kind = self.text_construct(el, default)
        entry.setdefault("content", []).append(self.detail(kind, value))
        entry.setdefault("summary", value)  # only text, HTML and XHTML reach here: all copied

    def media(self, el: Any, entry: FeedParserDict) -> None:
        """A Media RSS element at self.depth. feedparser reads titles and descriptions nested
        in <media:content> and <media:group> into the entry itself (a media title keeps the
        title depth as it was)."""
        name = self.name(el)
        if name in ("media:content", "media:group"):
            self.attrs(el)
            for child in el:
                if isinstance(child.tag, str):
                    self.depth += 1
                    self.media(child, entry)
                    self.depth -= 1
        elif name == "media:title":
            kept = self.title_depth
            self.entry_title(el, entry)
            self.title_depth = kept
        elif name == "media:description":
            self.description(el, entry, "text/html")
        elif name in _MEDIA_LEAVES and not len(el):
            self.attrs(el)
        else:
            raise Decline(f"<{name}> in Media RSS")
