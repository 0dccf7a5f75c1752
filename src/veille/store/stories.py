"""The entry_stories table: which story each matched entry belongs to, and what the story
index needs to be rebuilt after a restart (stories.StoryRow)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ..stories import StoryRow
from .base import StoreBase
from .rows import at, iso


class StoryTables(StoreBase):
    def save_stories(self, rows: Iterable[StoryRow]) -> None:
        """Inside the feed's transaction; an entry keeps the story it was first given."""
        self.db.conn.executemany(
            "INSERT INTO entry_stories (entry_id, story_id, at, link, signature) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO NOTHING",
            [(r.entry_id, r.story_id, iso(r.at), r.link, r.signature) for r in rows])

    def story_rows(self, since: datetime) -> list[StoryRow]:
        """The rows of entries first seen since `since`: what StoryIndex.restore() needs."""
        cursor = self.db.execute(
            "SELECT entry_id, story_id, at, link, signature FROM entry_stories WHERE at >= ?",
            [iso(since)])
        return [StoryRow(r[0], r[1], at(r[2]), r[3], bytes(r[4])) for r in cursor.fetchall()]
