"""Values as feedparser's pop() leaves them, for the fast parse path: its Latin-1 and cp1252
fixes, its content type names, its dates and its URI joining (feedparser's own functions,
cached, and skipped for links they would give back unchanged).
"""

from __future__ import annotations

import contextlib
import functools
import re
from urllib.parse import uses_relative

from feedparser.datetimes import _parse_date as feedparser_date
from feedparser.html import _cp1252
from feedparser.urls import _urljoin as feedparser_urljoin

_C1 = re.compile("[\x80-\x9f]")


def fix_text(text: str) -> str:
    """What feedparser's pop() does to every text once markup is gone: it re-reads text that
    decodes as UTF-8 misread as Latin-1, then maps C1 controls to their cp1252 characters."""
    if text.isascii():
        return text  # both steps leave ASCII as it is
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    # str.translate with a dict walks every character in Python: only when there is a C1 one
    return text.translate(_cp1252) if _C1.search(text) else text


def content_type(value: str) -> str:
    value = value.lower()
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html",
            "xhtml": "application/xhtml+xml"}.get(value, value)


# A worker parses the same feeds poll after poll, and their entries mostly repeat: feedparser's
# date parsing and URI joining (pure functions of strings, immutable results) are cached.
parse_date = functools.lru_cache(maxsize=8192)(feedparser_date)
_cached_urljoin = functools.lru_cache(maxsize=8192)(feedparser_urljoin)
# Links urljoin gives back as they are, spotted without parsing them: a plain absolute
# http(s) URL (urljoin re-assembles it from its parts, which gives the same string when there
# is no empty query, no params, no fragment and nothing urlsplit strips), or a URI whose
# scheme is not relative (urn:, tag:, mailto:…), which urljoin returns untouched.
_PLAIN_HTTP = re.compile(r"https?://[A-Za-z0-9.\-_~%!$&'()*+,=:@]+(?:/[A-Za-z0-9.\-_~%!$&'()*+,=:@/]*)?"
                         r"(?:\?[A-Za-z0-9.\-_~%!$&'()*+,=:@/?;]+)?\Z")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):(?!//)")
_RELATIVE_SCHEMES = frozenset(uses_relative)


def urljoin(base: str, uri: str) -> str:
    """feedparser's _urljoin(base, uri), without its cost for links it would not change."""
    if _PLAIN_HTTP.match(uri):
        return uri
    scheme = _SCHEME.match(uri)
    if scheme and base and scheme.group(1).lower() not in _RELATIVE_SCHEMES:
        return uri
    return _cached_urljoin(base, uri)
