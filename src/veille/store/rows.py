"""Rows to dataclasses and back: the one timestamp format and the entry row shapes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from ..models import FeedState, StoredEntry
from ..outcomes import as_error_kind


def iso(when: datetime | None) -> str | None:
    """UTC, microsecond precision, one fixed-width format: string order is time order.
    (Second precision would make a feed due up to a second early.)"""
    if when is None:
        return None
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    # isoformat, not strftime: a quarter of the cost, and it runs several times per entry;
    # its "+00:00" (UTC, now) cut off rather than a naive copy made first
    return when.isoformat(timespec="microseconds")[:-6] + "Z"


def json_strings(items: Iterable[str]) -> str:
    """A JSON array of strings, exactly as json.dumps(list(items), ensure_ascii=False) writes
    it (categories, match terms), at a fifth of the cost: json.dumps builds an encoder at
    each call, and this runs for every entry and every match."""
    return "[" + ", ".join(map(encode_basestring, items)) + "]"


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return at(text)


def at(text: str) -> datetime:
    """A NOT NULL timestamp column."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_FEED_FIELDS = {f.name for f in fields(FeedState)}


def _feed_state(row: dict[str, Any]) -> FeedState:
    values = {k: v for k, v in row.items() if k in _FEED_FIELDS}
    for key in ("last_fetch", "last_success", "error_since", "next_due"):
        values[key] = from_iso(values.get(key))
    values["gone"] = bool(values.get("gone"))
    values["in_opml"] = bool(values.get("in_opml"))
    values["error_kind"] = as_error_kind(values.get("error_kind"))
    return FeedState(**values)


def _stored_entry(row: dict[str, Any]) -> StoredEntry:
    return StoredEntry(
        id=row["id"], feed_url=row["feed_url"],
        feed_title=row.get("feed_name") or "", key=row["key"], title=row["title"],
        link=row["link"], author=row["author"], published=at(row["published"]),
        updated=from_iso(row["updated"]), summary_text=row["summary_text"],
        content_text=row["content_text"], summary_html=row["summary_html"],
        content_html=row["content_html"], categories=tuple(json.loads(row["categories"])),
        language=row["language"], first_seen=at(row["first_seen"]),
        changed_at=from_iso(row["changed_at"]), changes=row["changes"], dated=bool(row["dated"]),
        outlet=row.get("outlet"), outlet_url=row.get("outlet_url"),
    )


@dataclass(frozen=True)
class EntryChange:
    """An entry as just stored, and whether it was new or changed by this fetch."""

    entry: StoredEntry
    new: bool


_ENTRY_SELECT = """
    SELECT e.*, COALESCE(NULLIF(NULLIF(f.title, ''), f.url), f.feed_title, f.url) AS feed_name
    FROM entries e JOIN feeds f ON f.url = e.feed_url
"""


