"""What makes a URL one veille can fetch or post to, checked where a person types it (feeds
add, move and import; channel URLs in veille.toml), so that a typo is refused with a reason
instead of being written to feeds.opml, where it would fail at every poll, or break the file
(XML cannot hold a control character)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: Whitespace and control characters: no URL holds them as they are (they are
#: percent-encoded), and most of them cannot be written in XML at all.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def http_url_problem(url: str) -> str | None:
    """Why `url` is not an http(s) URL with a host, or None when it is."""
    if not url.startswith(("http://", "https://")):
        return "expected an http:// or https:// URL"
    bad = _FORBIDDEN.search(url)
    if bad is not None:
        return f"a URL cannot hold {bad.group()!r} (spaces and control characters are " \
               "written percent-encoded: %20)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as e:
        return f"not a valid URL ({e})"
    if not parts.hostname:
        return "the URL names no host"
    return None
