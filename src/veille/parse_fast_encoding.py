"""Which text a feed's bytes stand for, as feedparser decides it (RFC 3023, HTTP charset, XML
declaration, BOM), for the fast parse path: it goes on only when lxml will read the same text.
"""

from __future__ import annotations

import codecs
import re

from feedparser.encodings import parse_content_type
from feedparser.exceptions import CharacterEncodingOverride, NonXMLContentType

_UTF8 = ("utf-8", "utf8", "utf_8")
_ASCII = ("us-ascii", "ascii")
_LATIN = ("iso-8859-1", "latin-1", "latin1", "iso-8859-15", "windows-1252", "cp1252")
_XML_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")
_XML_VERSION = re.compile(rb"^<\?xml[^>]*?version\s*=\s*['\"]1\.0['\"]")
_FIRST_ELEMENT = re.compile(rb"<\w")
_DECLARATION = re.compile(rb"<!(?:doctype|entity)", re.I)


class Decline(Exception):
    """The fast path is not sure of this document: feedparser reads it."""


def check_encoding(body: bytes, headers: dict[str, str]) -> tuple[bytes, Exception | None]:
    """The document without its BOM, and the complaint feedparser makes about its encoding
    or media type (RFC 3023 as feedparser applies it), when both readers end up with the
    same text: UTF-8, Latin-1 or cp1252 read alike by both, or ASCII.

    A feed served as text/xml without a charset is US-ASCII by RFC 3023: feedparser reads a
    UTF-8 one all the same and says so (CharacterEncodingOverride); so does this reader.
    """
    data = body[3:] if body[:3] == codecs.BOM_UTF8 else body
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:1] in (b"\x00", b"\x4c"):
        raise Decline("a BOM or marker of another encoding")
    match = _XML_ENCODING.match(data)
    xml_encoding = match.group(1).decode("ascii").lower() if match else ""
    if data.startswith(b"<?xml") and not _XML_VERSION.match(data):
        raise Decline("not XML 1.0")
    header = headers.get("content-type") or ""
    media_type, http_encoding = parse_content_type(header)
    error: Exception | None = None
    if media_type in ("application/xml", "application/xml-dtd",
                      "application/xml-external-parsed-entity") or (
            media_type.startswith("application/") and media_type.endswith("+xml")):
        declared = http_encoding or xml_encoding or "utf-8"
    else:
        error = NonXMLContentType(f"{header} is not an XML media type" if "content-type" in headers
                                  else "no Content-type specified")
        if media_type in ("text/xml", "text/xml-external-parsed-entity") or (
                media_type.startswith("text/") and media_type.endswith("+xml")):
            error = None
            declared = http_encoding or "us-ascii"
        elif media_type.startswith("text/"):
            declared = http_encoding or "us-ascii"
        elif "content-type" not in headers:
            declared = xml_encoding or "iso-8859-1"
        else:
            declared = xml_encoding or "utf-8"
    allowed = _UTF8 + _ASCII + _LATIN
    if xml_encoding and xml_encoding not in allowed:
        raise Decline(f"declared encoding {xml_encoding}")
    if body[:3] == codecs.BOM_UTF8 and xml_encoding not in ("",) + _UTF8:
        raise Decline("a UTF-8 BOM on a document declared otherwise")
    if data.isascii():
        # every encoding allowed here reads ASCII alike: the first feedparser tries succeeds
        if declared.lower() not in allowed:
            raise Decline(f"encoding {declared}")
    else:
        # feedparser tries the encodings in this order; lxml reads what the document declares
        used = ""
        for candidate in (declared, xml_encoding, "utf-8" if body[:3] == codecs.BOM_UTF8 else ""):
            if not candidate:
                continue
            if candidate.lower() not in allowed:
                raise Decline(f"encoding {candidate}")
            try:
                data.decode(candidate)
            except UnicodeDecodeError:
                continue
            used = candidate
            break
        if not used:
            raise Decline("an encoding feedparser would guess")
        if codecs.lookup(used).name != codecs.lookup(xml_encoding or "utf-8").name:
            raise Decline(f"read as {used} by feedparser, as {xml_encoding or 'utf-8'} by lxml")
        if used != declared:
            error = CharacterEncodingOverride(
                f"document declared as {declared}, but parsed as {used}")
    head = _FIRST_ELEMENT.split(data, 1)[0]
    if _DECLARATION.search(head):
        raise Decline("a DOCTYPE or ENTITY declaration")
    return data, error
