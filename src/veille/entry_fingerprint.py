"""Fingerprints of a feed's raw items, so that the items already stored are not read again.

A feed that changed usually carries one or two new items beside twenty it carried before,
and reading an item (sanitizing its HTML, its plain text, its key, its fold) costs far more
than parsing the XML around it. The fast reader (parse_fast.py) fingerprints each item's
raw XML; an item whose fingerprint the store already holds for that feed is left out of the
parse, as store.entries would leave it out as unchanged anyway.

A fingerprint covers everything the item's stored form depends on: its XML, the document's
base URL and language (an item without its own language takes the feed's), and the parser's
version (parser_id.py), so that an upgrade reads every item afresh. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from lxml import etree

from .parser_id import PARSER_ID

#: fingerprint -> entry key, as the store reads it for one feed
Known = Mapping[str, str]
NOTHING_KNOWN: Known = {}


def seed(base: str, language: str | None) -> bytes:
    """What every item of one document shares: prefixed to each item's XML."""
    return "\x1f".join((PARSER_ID, base, language or "", "")).encode()


def fingerprint(prefix: bytes, item: Any) -> str:
    """The item element's fingerprint (its serialization, namespaces and tail text aside)."""
    raw = etree.tostring(item, with_tail=False)
    return hashlib.blake2b(prefix + raw, digest_size=16).hexdigest()


class ItemSkipper:
    """The fast reader's side of it, one document at a time: each item's fingerprint, and
    whether the item may be left out.

    Only items in the trailing run of their parent's children are left out (nearly always
    all of them: feeds put their items last). The reader keeps a little state from one element
    to the next (feedparser's title depth), which an item left unread would not set; the
    next item resets it, but a feed-level element after the items would read it.
    The seed is taken at the first item, with the language known then; the caller checks
    that it is still the document's language once the whole document is read
    (`seed_language`), and reads it again without skipping when not.
    """

    def __init__(self, known: Known, base: str) -> None:
        self.known = known
        self.base = base
        self.seed_language: str | None = None
        self.skipped = 0
        self._prefix: bytes | None = None
        self._parent: Any = None
        self._trailing: list[Any] = []  # held, so that lxml gives back these very proxies
        self._trailing_ids: set[int] = set()

    def check(self, item: Any, language: str | None) -> tuple[str, str | None]:
        """(the item's fingerprint, its entry key when it may be left out, else None)."""
        if self._prefix is None:
            self.seed_language = language
            self._prefix = seed(self.base, language)
        found = fingerprint(self._prefix, item)
        key = self.known.get(found) if self.known else None
        if key is None or not self._in_trailing_run(item):
            return found, None
        self.skipped += 1
        return found, key

    def _in_trailing_run(self, item: Any) -> bool:
        parent = item.getparent()
        if parent is not self._parent:
            self._parent = parent
            self._trailing = []
            for child in reversed(parent):
                if isinstance(child.tag, str) and child.tag != item.tag:
                    break
                self._trailing.append(child)
            self._trailing_ids = {id(c) for c in self._trailing}
        return id(item) in self._trailing_ids
