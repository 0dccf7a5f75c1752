"""feedparser's end-tag handlers made to drop an element they cannot place, not the feed.

In a document that is not well-formed, feedparser's loose parser still calls an element's
end handler when its start tag was misspelt or missing (`<heigth>31</height>`, a stray
`</media:player>`): several handlers then fail (`int(None)`, a KeyError on a context that
was never opened), feedparser.parse raises, and the whole feed was lost for one stray tag.
Here each `_end_*` handler of feedparser's two parser classes drops its element when it
fails that way. A document that parsed before parses exactly as before: only a handler that
raised behaves differently. (An AttributeError is left to feedparser, which already takes
it to mean "no handler" and drops the element.)

Installed once, when parse.py is imported: in the parser processes and the inline lane.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from feedparser import api

_PLACING_ERRORS = (KeyError, TypeError, ValueError, IndexError)


def _tolerant(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(handler)
    def end(self: Any) -> Any:
        try:
            return handler(self)
        except _PLACING_ERRORS:
            return None

    end.veille_tolerant = True  # type: ignore[attr-defined]
    return end


def install() -> None:
    for cls in (api.StrictFeedParser, api.LooseFeedParser):
        for name in dir(cls):
            handler = getattr(cls, name)
            if name.startswith("_end_") and callable(handler) \
                    and not getattr(handler, "veille_tolerant", False):
                setattr(cls, name, _tolerant(handler))
