"""Atom type="xhtml" text as feedparser writes it out: the markup serialized back piece by
piece (its own spelling: `<br></br>`, lower-case names, rel/type values lower-cased), then
the wrapping <div> dropped. The fast path must give the very same string, since nh3 and
html_to_text then read it (`<br></br>` is two line breaks to an HTML parser).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from .parse_fast_encoding import Decline

XHTML = "{http://www.w3.org/1999/xhtml}"
_XML_ATTRIBUTE = "{http://www.w3.org/XML/1998/namespace}"


def xhtml_text(el: Any, atom10: bool, handled: set[str]) -> str:
    """The value feedparser's pop() gives an XHTML text construct `el` (before its
    Latin-1/cp1252 fixes). `handled` holds feedparser's handler names: an XHTML element with
    an end handler (<body>) would end the content itself, and is declined."""
    pieces: list[str] = []
    if el.text:
        pieces.append(escape(el.text))
    for child in el:
        _serialize(child, pieces, handled)
    if atom10:
        pieces = _unwrap(pieces)
    return "".join(pieces).strip()


def _serialize(node: Any, pieces: list[str], handled: set[str]) -> None:
    if isinstance(node.tag, str):  # comments and processing instructions vanish, as in SAX
        if not node.tag.startswith(XHTML):
            raise Decline("a non-XHTML element in XHTML content")
        name = node.tag[len(XHTML):].lower()
        if f"xhtml_{name}" in handled or name in ("svg", "math"):
            raise Decline(f"<{name}> in XHTML content")
        pieces.append(f"<{name}{_attributes(node)}>")
        if node.text:
            pieces.append(escape(node.text))
        for child in node:
            _serialize(child, pieces, handled)
        pieces.append(f"</{name}>")
    if node.tail:
        pieces.append(escape(node.tail))


def _attributes(node: Any) -> str:
    found: dict[str, str] = {}
    for key, value in node.attrib.items():
        if key.startswith(_XML_ATTRIBUTE):
            key = "xml:" + key[len(_XML_ATTRIBUTE):]
        elif key.startswith("{"):
            raise Decline("a namespaced attribute in XHTML content")  # feedparser reorders those
        key = key.lower()
        if key in ("base", "xml:base"):
            raise Decline("xml:base in XHTML content")
        found[key] = value.lower() if key in ("rel", "type") else value
    return "".join(f' {k}="{escape(v, {chr(34): "&quot;"})}"' for k, v in found.items())


def _unwrap(pieces: list[str]) -> list[str]:
    """feedparser drops an enclosing <div> when all the rest is nested under it."""
    while len(pieces) > 1 and not pieces[-1].strip():
        del pieces[-1]
    while len(pieces) > 1 and not pieces[0].strip():
        del pieces[0]
    if pieces and (pieces[0] == "<div>" or pieces[0].startswith("<div ")) and pieces[-1] == "</div>":
        depth = 0
        for piece in pieces[:-1]:
            if piece.startswith("</"):
                depth -= 1
                if depth == 0:
                    return pieces
            elif piece.startswith("<") and not piece.endswith("/>"):
                depth += 1
        return pieces[1:-1]
    return pieces
