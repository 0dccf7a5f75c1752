"""OPML <-> FeedSource list: reading folders and per-feed options, editing the file in place.

Edits keep what the user wrote: folder order, comments and attributes veille does not know
(other readers store theirs there). The file is rewritten atomically and never on error.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from .errors import OpmlError
from .files import atomic_write
from .models import FeedSource
from .units import format_duration, parse_duration


def _label(outline: ET.Element) -> str:
    return (outline.get("title") or outline.get("text") or "").strip()


#: Folders nest at most this deep: deeper is no one's outline, and walking or writing it
#: would exhaust Python's recursion.
MAX_DEPTH = 32


@dataclass
class OpmlDocument:
    """A parsed OPML file that can be edited and saved without losing what veille ignores."""

    path: Path
    tree: ET.ElementTree
    prolog: bytes = b""  # comments between the XML declaration and <opml>, kept on save

    @classmethod
    def load(cls, path: Path) -> OpmlDocument:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise OpmlError(path, "no such file (create it with `veille init` or "
                                  "`veille feeds add URL`)") from None
        except OSError as e:
            raise OpmlError(path, f"cannot read: {e.strerror}") from None
        return cls.parse(path, data)

    @classmethod
    def parse(cls, path: Path, data: bytes) -> OpmlDocument:
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
        try:
            parser.feed(data)
            root = parser.close()
        except ET.ParseError as e:
            line, column = e.position
            reason = str(e).split(":")[0]
            raise OpmlError(path, f"not valid XML ({reason})", line, column + 1) from None
        except (LookupError, ValueError) as e:  # encoding="klingon", encoding="utf-32"
            raise OpmlError(path, f"cannot read its declared encoding ({e}); save it as UTF-8"
                            ) from None
        if root.tag != "opml":
            raise OpmlError(path, f"the root element is <{root.tag}>, not <opml>", 1, 1)
        if root.find("body") is None:
            raise OpmlError(path, "no <body> element")
        if _depth(root) > MAX_DEPTH + 2:  # <opml><body>, then the outlines
            raise OpmlError(path, f"outlines nested more than {MAX_DEPTH} deep")
        _register_namespaces(data)
        doc = cls(Path(path), ET.ElementTree(root), _prolog(data))
        doc.sources()  # validate options now, not halfway through a pass
        return doc

    @classmethod
    def empty(cls, path: Path) -> OpmlDocument:
        root = ET.Element("opml", version="2.0")
        ET.SubElement(ET.SubElement(root, "head"), "title").text = "veille feeds"
        ET.SubElement(root, "body")
        return cls(Path(path), ET.ElementTree(root))

    @property
    def root(self) -> ET.Element:
        root = self.tree.getroot()
        assert root is not None
        return root

    @property
    def body(self) -> ET.Element:
        body = self.root.find("body")
        assert body is not None
        return body

    def _walk(self) -> Iterator[tuple[ET.Element, ET.Element, str]]:
        """(parent, feed outline, folder path) in document order."""
        def walk(parent: ET.Element, folder: tuple[str, ...]):
            for child in parent:
                if child.tag != "outline":
                    continue
                if child.get("xmlUrl"):
                    yield parent, child, "/".join(folder)
                else:
                    yield from walk(child, (*folder, _label(child)) if _label(child) else folder)
        yield from walk(self.body, ())

    def sources(self) -> list[FeedSource]:
        seen: set[str] = set()
        out = []
        for _, outline, folder in self._walk():
            url = outline.get("xmlUrl", "").strip()
            if url in seen:
                continue
            seen.add(url)
            interval = None
            if outline.get("interval"):
                try:
                    interval = parse_duration(outline.get("interval", ""))
                except ValueError as e:
                    raise OpmlError(self.path, f"feed {url}: interval: {e}") from None
            out.append(FeedSource(url=url, title=_label(outline), folder=folder,
                                  html_url=outline.get("htmlUrl", ""), interval=interval))
        return out

    def _folder(self, path: str) -> ET.Element:
        """The outline for a folder path such as "presse/tech", created at the end if missing."""
        node = self.body
        names = list(filter(None, (p.strip() for p in path.split("/"))))
        if len(names) >= MAX_DEPTH:
            raise OpmlError(self.path, f"folder {path!r}: nested more than {MAX_DEPTH} deep")
        for name in names:
            match = next((c for c in node if c.tag == "outline" and not c.get("xmlUrl")
                          and _label(c) == name), None)
            node = match if match is not None else ET.SubElement(node, "outline", text=name,
                                                                 title=name)
        return node

    def add(self, source: FeedSource) -> bool:
        """Add a feed; False when its URL is already there (nothing changes)."""
        if any(o.get("xmlUrl", "").strip() == source.url for _, o, _ in self._walk()):
            return False
        attrs = {"type": "rss", "text": source.title or source.url}
        if source.title:
            attrs["title"] = source.title
        attrs["xmlUrl"] = source.url
        if source.html_url:
            attrs["htmlUrl"] = source.html_url
        if source.interval:
            attrs["interval"] = format_duration(source.interval)
        ET.SubElement(self._folder(source.folder), "outline", attrs)
        return True

    def remove(self, url: str) -> bool:
        found = [(p, o) for p, o, _ in self._walk() if o.get("xmlUrl", "").strip() == url]
        for parent, outline in found:
            parent.remove(outline)
        return bool(found)

    def move(self, old_url: str, new_url: str) -> int:
        """Point the outlines of `old_url` at `new_url` in place: folder, position, title and
        every other attribute stay. A `text`/`title` that was just the old URL (what `feeds add`
        writes without --title) follows it. Returns how many outlines changed."""
        found = [o for _, o, _ in self._walk() if o.get("xmlUrl", "").strip() == old_url]
        for outline in found:
            outline.set("xmlUrl", new_url)
            for attribute in ("text", "title"):
                if (outline.get(attribute) or "").strip() == old_url:
                    outline.set(attribute, new_url)
        return len(found)

    def merge(self, sources: Iterable[FeedSource]) -> list[FeedSource]:
        """Add the feeds not already present, keeping their folders; returns those added."""
        return [s for s in sources if self.add(s)]

    def to_bytes(self) -> bytes:
        """The file as it will be written, read back first: a value XML cannot hold (a
        control character) would otherwise give a file that veille itself cannot load."""
        ET.indent(self.tree, space="  ")
        data = (b'<?xml version="1.0" encoding="UTF-8"?>\n' + self.prolog
                + ET.tostring(self.root, encoding="unicode").encode() + b"\n")
        try:
            ET.fromstring(data)
        except ET.ParseError as e:
            raise OpmlError(self.path, f"not saved: a title, folder or URL holds a character "
                                       f"XML cannot ({e})") from None
        return data

    def save(self) -> None:
        try:
            atomic_write(self.path, self.to_bytes())
        except OSError as e:
            raise OpmlError(self.path, f"cannot write: {e.strerror or e}") from None


def _depth(root: ET.Element) -> int:
    """How deep the tree goes, walked without recursion."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node)
    return deepest


def _register_namespaces(data: bytes) -> None:
    """Keep the file's own prefixes (xmlns:fr=…) instead of ElementTree's ns0, ns1…"""
    try:
        for _, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
            if prefix:
                ET.register_namespace(prefix, uri)
    except (ET.ParseError, ValueError):
        pass


def _prolog(data: bytes) -> bytes:
    """What stands between the XML declaration and the root element (usually comments)."""
    root = re.search(rb"<opml[\s>]", data)
    if root is None:
        return b""
    head = data[:root.start()]
    declaration = re.match(rb"\s*(?:\xef\xbb\xbf)?<\?xml[^>]*\?>\s*", head)
    prolog = head[declaration.end():] if declaration else head.lstrip()
    return prolog.strip() + b"\n" if prolog.strip() else b""


def export_opml(sources: Iterable[FeedSource], now: datetime, title: str = "veille feeds") -> str:
    """Clean OPML 2.0 (every outline has `text`, folders nest) as FreshRSS, Miniflux, Feedly read it."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {"": body}
    for s in sources:
        parent = body
        path = ""
        for name in filter(None, s.folder.split("/")):
            path = f"{path}/{name}"
            if path not in folders:
                folders[path] = ET.SubElement(parent, "outline", text=name, title=name)
            parent = folders[path]
        attrs = {"type": "rss", "text": s.title or s.url, "title": s.title or s.url,
                 "xmlUrl": s.url}
        if s.html_url:
            attrs["htmlUrl"] = s.html_url
        if s.interval:  # veille's own attribute; other readers ignore it, a re-import keeps it
            attrs["interval"] = format_duration(s.interval)
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
