"""The dictionary the fast reader builds its result in: feedparser's FeedParserDict, read at
dict speed.

FeedParserDict resolves every read through Python code (its key aliases, `updated` falling
back to `published`, `category` from the tags…): about a fifth of the fast reader's time went
there. FastDict takes that path only for the keys it concerns and reads any other key as a
plain dict does, which is what FeedParserDict ends up doing for them: parse.py reads the same
values either way.
"""

from __future__ import annotations

from typing import Any

from feedparser.util import FeedParserDict

#: Keys FeedParserDict reads specially (see its __getitem__ and __contains__), and its aliases.
_SPECIAL = frozenset({"category", "enclosures", "license", "updated", "updated_parsed"})
_ALIASED = frozenset(FeedParserDict.keymap)
_SLOW = _SPECIAL | _ALIASED


class FastDict(FeedParserDict):
    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        if key in _SLOW:
            return FeedParserDict.__getitem__(self, key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key in _SLOW:
            return FeedParserDict.get(self, key, default)
        return dict.get(self, key, default)

    def __contains__(self, key: Any) -> bool:
        if key in _SLOW:
            return FeedParserDict.__contains__(self, key)
        return dict.__contains__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        if key in _ALIASED:
            FeedParserDict.__setitem__(self, key, value)
        else:
            dict.__setitem__(self, key, value)
