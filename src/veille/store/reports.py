"""What a report reads, counted by SQLite so that the work grows with the period's hours,
outlets and stories, not with its articles: mentions per hour, per outlet, and each story's
size; then the first article of the few stories shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..outlets import host_of
from .base import StoreBase
from .rows import at, iso


@dataclass(frozen=True)
class StoryCount:
    """One story of a watchlist in the period: its articles, its outlets, its first article."""

    story: int  # the story id, or minus the entry id for an entry grouped with nothing
    mentions: int
    outlets: int
    first_published: datetime
    first_entry: int
    first_feed: str


@dataclass(frozen=True)
class StoryHead:
    """The article shown for a story: its first copy."""

    entry_id: int
    title: str
    link: str | None
    feed_url: str
    outlet: str | None = None  # the publisher an aggregator credits it to


#: Matches (silent ones too: a backfilled archive is history as well) of entries published
#: in [since, until), with their story: the FROM of every report query.
_PERIOD = """FROM matches m JOIN entries e ON e.id = m.entry_id
             LEFT JOIN entry_stories es ON es.entry_id = e.id
             WHERE m.watchlist IN ({marks}) AND e.published >= ? AND e.published < ?"""


def site_of(outlet: str | None, outlet_url: str | None, link: str | None, feed_url: str) -> str:
    """The publisher's site, so that one story counts its outlets as the digest's "also in"
    does: Le Monde credited by Google News and Le Monde's own feed are one outlet
    (lemonde.fr), two publishers carried by one aggregator feed are two."""
    if outlet:
        return host_of(outlet_url) or outlet
    return host_of(link) or feed_url


class ReportTables(StoreBase):
    def _period(self, select: str, group: str, names: Sequence[str], since: datetime,
                until: datetime) -> list[Any]:
        if not names:
            return []
        self.db.conn.create_function("veille_site", 4, site_of, deterministic=True)
        sql = f"SELECT {select} {_PERIOD.format(marks=','.join('?' * len(names)))} {group}"
        return self.db.execute(sql, [*names, iso(since), iso(until)]).fetchall()

    def hourly_mentions(self, names: Sequence[str], since: datetime, until: datetime
                        ) -> list[tuple[str, datetime, int]]:
        """(watchlist, UTC hour, articles): the report turns hours into the user's days."""
        rows = self._period("m.watchlist, substr(e.published, 1, 13), count(*)",
                            "GROUP BY 1, 2", names, since, until)
        return [(w, datetime.fromisoformat(h + ":00+00:00"), n) for w, h, n in rows]

    def outlet_mentions(self, names: Sequence[str], since: datetime, until: datetime
                        ) -> list[tuple[str, str, str | None, int]]:
        """(watchlist, feed URL, the outlet an aggregator credits or None, articles)."""
        return [tuple(r) for r in self._period("m.watchlist, e.feed_url, e.outlet, count(*)",
                                               "GROUP BY 1, 2, 3", names, since, until)]

    def story_counts(self, names: Sequence[str], since: datetime, until: datetime
                     ) -> dict[str, list[StoryCount]]:
        """Per watchlist, its stories of the period. The first article is the row of
        min(published): SQLite gives a min() aggregate's bare columns from that row."""
        rows = self._period(
            "m.watchlist, COALESCE(es.story_id, -e.id) AS story, count(*), "
            "count(DISTINCT veille_site(e.outlet, e.outlet_url, e.link, e.feed_url)), "
            "min(e.published), e.id, e.feed_url",
            "GROUP BY 1, 2", names, since, until)
        out: dict[str, list[StoryCount]] = {n: [] for n in names}
        for w, story, mentions, outlets, first, entry, feed in rows:
            out[w].append(StoryCount(story, mentions, outlets, at(first), entry, feed))
        return out

    def story_heads(self, entry_ids: Sequence[int]) -> dict[int, StoryHead]:
        out: dict[int, StoryHead] = {}
        ids = list(dict.fromkeys(entry_ids))
        for start in range(0, len(ids), 500):  # SQLite's bound on ? parameters
            chunk = ids[start:start + 500]
            cursor = self.db.execute(
                f"SELECT id, title, link, feed_url, outlet FROM entries "
                f"WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            for i, title, link, feed_url, outlet in cursor.fetchall():
                out[i] = StoryHead(i, title, link, feed_url, outlet)
        return out
