"""Re-keying history: a watchlist renamed, a feed moved to a new URL.

Rows are keyed by a watchlist's name and a feed's URL; when the user changes either, the rows
must follow or the history is stranded (pending matches never delivered, entries new again).
The lists below name every place such a key is stored, so a new watchlist-keyed table is one
line here (tests/test_renames.py fails when the schema has one this list misses).
"""

from __future__ import annotations

from datetime import datetime

from .base import StoreBase
from .rows import iso

#: (table, column) holding a watchlist name. Deliveries hang off matches by id, so they follow.
WATCHLIST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("matches", "watchlist"),
    ("spike_states", "watchlist"),  # spike history: the detector's state and learning start
)
#: meta keys "<prefix>:<watchlist name>": the digest slots the daemon schedules from.
WATCHLIST_META: tuple[str, ...] = ("digest_last", "digest_next")
#: (table, column) referencing feeds(url).
FEED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("entries", "feed_url"),
    ("feed_health", "feed_url"),
)
#: Fetch state that belonged to the old address's server, not to the feed.
_FEED_RESET = ("moved_to", "etag", "last_modified")


class MoveTables(StoreBase):

    # --- watchlists ---------------------------------------------------------------------------

    def watchlist_rows(self, name: str) -> int:
        """Rows keyed by `name` in any watchlist-keyed table (meta not counted)."""
        return sum(self.db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?",
                                   [name]).fetchone()[0]
                   for table, column in WATCHLIST_COLUMNS)

    def rename_watchlist_rows(self, old: str, new: str) -> dict[str, int]:
        """Re-key everything of `old` to `new`; returns rows changed per table (and "meta").

        The caller checks that `new` owns no rows (UNIQUE (watchlist, entry_id) would fail
        halfway otherwise). Stale digest slots of `new` are dropped: `old`'s slots, or none,
        are what the renamed watchlist schedules from.
        """
        counts: dict[str, int] = {}
        with self.transaction():
            for table, column in WATCHLIST_COLUMNS:
                cursor = self.db.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [new, old])
                counts[table] = counts.get(table, 0) + cursor.rowcount
            counts["meta"] = 0
            for prefix in WATCHLIST_META:
                self.db.execute("DELETE FROM meta WHERE key = ?", [f"{prefix}:{new}"])
                cursor = self.db.execute("UPDATE meta SET key = ? WHERE key = ?",
                                         [f"{prefix}:{new}", f"{prefix}:{old}"])
                counts["meta"] += cursor.rowcount
        return counts

    def undelivered_deliveries(self, watchlist: str) -> int:
        """Delivery rows of `watchlist`'s matches that no channel has accepted yet."""
        return self.db.execute(
            "SELECT count(*) FROM deliveries d JOIN matches m ON m.id = d.match_id "
            "WHERE m.watchlist = ? AND d.delivered_at IS NULL", [watchlist]).fetchone()[0]

    def undelivered_matches(self, matched_since: datetime) -> dict[str, int]:
        """Per watchlist: matches no channel has accepted that would still go out, i.e. recent
        enough for a new batch (the outbox's horizon) or already in an open batch."""
        rows = self.db.execute(
            """SELECT m.watchlist, count(*) FROM matches m WHERE m.silent = 0
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.match_id = m.id
                               AND d.delivered_at IS NOT NULL)
               AND (m.matched_at >= ? OR EXISTS (SELECT 1 FROM deliveries d
                                                 WHERE d.match_id = m.id))
               GROUP BY m.watchlist""", [iso(matched_since)])
        return dict(rows.fetchall())

    # --- feeds --------------------------------------------------------------------------------

    def feed_rows(self, url: str) -> int:
        """Rows referencing the feed `url` (its entries)."""
        return sum(self.db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?",
                                   [url]).fetchone()[0]
                   for table, column in FEED_COLUMNS)

    def move_feed_rows(self, old: str, new: str) -> int:
        """Give the feed `old` the URL `new`, keeping its entries (same ids, so their matches
        and deliveries stay attached) and its fetch state; returns how many entries moved.

        feeds.url is referenced by entries.feed_url, so the row is copied, the entries
        re-pointed, the old row deleted. A row of `new` that owns nothing is replaced; the
        caller refuses a `new` that owns rows. Validators and moved_to are cleared (they came
        from the old address); body_hash is kept, so the same body is not parsed again.
        """
        columns = [row[1] for row in self.db.execute("PRAGMA table_info(feeds)").fetchall()]
        values = ["?" if c == "url" else "NULL" if c in _FEED_RESET else c for c in columns]
        moved = 0
        with self.transaction():
            if self.db.execute("SELECT 1 FROM feeds WHERE url = ?", [old]).fetchone() is None:
                return 0
            self.db.execute("DELETE FROM feeds WHERE url = ?", [new])
            self.db.execute(f"INSERT INTO feeds ({', '.join(columns)}) "
                            f"SELECT {', '.join(values)} FROM feeds WHERE url = ?", [new, old])
            for table, column in FEED_COLUMNS:
                cursor = self.db.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [new, old])
                moved += cursor.rowcount
            self.db.execute("DELETE FROM feeds WHERE url = ?", [old])
        return moved
