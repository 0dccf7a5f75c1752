"""What a report reads: each watchlist's matched entries of a period, compactly (report/ does
the counting), and the first article of the stories it will show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .base import StoreBase
from .rows import at, iso


@dataclass(frozen=True)
class MentionRow:
    """One matched entry of the period: an article that mentions a watchlist."""

    watchlist: str
    entry_id: int
    published: datetime
    feed_url: str
    story: int  # the story id, or minus the entry id for an entry grouped with nothing


@dataclass(frozen=True)
class StoryHead:
    """The article shown for a story: its first copy."""

    entry_id: int
    title: str
    link: str | None
    feed_url: str


class ReportTables(StoreBase):
    def mention_rows(self, names: Sequence[str], since: datetime, until: datetime
                     ) -> list[MentionRow]:
        """Matches (silent ones too: a backfilled archive is history as well) of entries
        published in [since, until), oldest first. Only ids and dates: a 90-day report over
        20 watchlists reads ~100,000 of these; titles come later, for the few shown."""
        if not names:
            return []
        cursor = self.db.execute(
            f"""SELECT m.watchlist, e.id, e.published, e.feed_url, COALESCE(es.story_id, -e.id)
                FROM matches m JOIN entries e ON e.id = m.entry_id
                LEFT JOIN entry_stories es ON es.entry_id = e.id
                WHERE m.watchlist IN ({','.join('?' * len(names))})
                  AND e.published >= ? AND e.published < ?
                ORDER BY e.published, e.id""", [*names, iso(since), iso(until)])
        return [MentionRow(w, i, at(p), f, s) for w, i, p, f, s in cursor.fetchall()]

    def story_heads(self, entry_ids: Sequence[int]) -> dict[int, StoryHead]:
        out: dict[int, StoryHead] = {}
        ids = list(dict.fromkeys(entry_ids))
        for start in range(0, len(ids), 500):  # SQLite's bound on ? parameters
            chunk = ids[start:start + 500]
            cursor = self.db.execute(
                f"SELECT id, title, link, feed_url FROM entries "
                f"WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            for i, title, link, feed_url in cursor.fetchall():
                out[i] = StoryHead(i, title, link, feed_url)
        return out
