"""The feeds table: what the OPML file lists, and each feed's fetch state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..models import FeedSource, FeedState
from .base import StoreBase
from .rows import _feed_state, from_iso, iso

COUNT = "(SELECT count(*) FROM entries e WHERE e.feed_url = f.url)"


class FeedTables(StoreBase):

    def sync_feeds(self, sources: Iterable[FeedSource]) -> None:
        """Make the feeds table follow the OPML file; feeds removed from it keep their entries.

        A gone feed is polled again once its outline changes (the user fixed the URL or title).
        """
        sources = list(sources)
        with self.transaction():
            self.db.execute("UPDATE feeds SET in_opml = 0")
            for position, s in enumerate(sources):
                self.db.execute(
                    """INSERT INTO feeds (url, title, folder, html_url, interval, fingerprint,
                                          in_opml, position)
                       VALUES (?, ?, ?, ?, ?, ?, 1, ?)
                       ON CONFLICT (url) DO UPDATE SET title = excluded.title,
                         folder = excluded.folder, html_url = excluded.html_url,
                         interval = excluded.interval, fingerprint = excluded.fingerprint,
                         in_opml = 1, position = excluded.position,
                         gone = CASE WHEN gone_fingerprint IS NOT excluded.fingerprint
                                     THEN 0 ELSE gone END""",
                    (s.url, s.title, s.folder, s.html_url, s.interval, s.fingerprint, position),
                )

    def feeds(self, urls: Iterable[str] | None = None, *, all_feeds: bool = False,
              counts: bool = True) -> list[FeedState]:
        """`counts=False` leaves `entry_count` at 0: the scheduler asks often and needs none."""
        where, params = ("" if all_feeds else "WHERE f.in_opml = 1"), []
        if urls is not None:
            urls = list(urls)
            where = f"WHERE f.url IN ({','.join('?' * len(urls))})"
            params = urls
        return self._feed_states(where, params, counts)

    def _feed_states(self, where: str, params: list[Any], counts: bool) -> list[FeedState]:
        rows = self._rows(
            f"""SELECT f.*, {COUNT if counts else "0"} AS entry_count FROM feeds f {where}
                ORDER BY f.in_opml DESC, f.position, f.rowid""", params)
        return [_feed_state(r) for r in rows]

    def due_feeds(self, now: datetime) -> list[FeedState]:
        """The watched feeds due at `now` (schedule.is_due), in the OPML's order: what the
        daemon's poller starts. One indexed read of those few, not of all 10,000 feeds."""
        return self._feed_states("WHERE f.in_opml = 1 AND NOT f.gone AND "
                                 "(f.next_due IS NULL OR f.next_due <= ?)", [iso(now)], False)

    def next_due_after(self, now: datetime) -> datetime | None:
        """The earliest due time after `now` of the watched feeds."""
        return from_iso(self.db.execute(
            "SELECT min(next_due) FROM feeds WHERE in_opml = 1 AND NOT gone AND next_due > ?",
            [iso(now)]).fetchone()[0])

    def feed_next_due(self, url: str) -> datetime | None:
        """When a watched feed is due next (past or not); None if gone, removed or unknown."""
        row = self.db.execute("SELECT next_due FROM feeds WHERE url = ? AND in_opml = 1 "
                              "AND NOT gone", [url]).fetchone()
        return from_iso(row[0]) if row else None

    def feed_counts(self) -> tuple[int, int]:
        """(watched feeds, failing ones): the daemon's status line after each batch of polls,
        in one aggregate rather than every feed's state."""
        total, failing = self.db.execute(
            "SELECT count(*), coalesce(sum(failures > 0 AND NOT gone), 0) FROM feeds "
            "WHERE in_opml = 1").fetchone()
        return int(total), int(failing)

    def feed(self, url: str, counts: bool = True) -> FeedState | None:
        found = self.feeds([url], counts=counts)
        return found[0] if found else None

    def update_feed(self, url: str, **values: Any) -> None:
        """Write fetch state; datetimes are stored in the one ISO format."""
        if not values:
            return
        values = {k: iso(v) if isinstance(v, datetime) else v for k, v in values.items()}
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        self.db.execute(f"UPDATE feeds SET {assignments} WHERE url = :url__",
                        {**values, "url__": url})

    _STATE_FIELDS = ("etag", "last_modified", "body_hash", "last_fetch", "last_success",
                     "last_status", "error_kind", "error_message", "failures", "error_since",
                     "moved_to", "gone", "next_due", "max_age", "ttl", "feed_title", "site_link")

    def save_state(self, state: FeedState) -> None:
        """Write a feed's fetch state; a gone feed remembers which outline it was gone for."""
        self.save_states([state])

    def save_states(self, states: Iterable[FeedState]) -> None:
        """Write many feeds' fetch states with one statement per kind (gone or not): the
        unchanged feeds of a pass cost a bound parameter list each, not a statement each."""
        rows: dict[bool, list[tuple[Any, ...]]] = {False: [], True: []}
        for state in states:
            values = [getattr(state, k) for k in self._STATE_FIELDS]
            values = [iso(v) if isinstance(v, datetime) else v for v in values]
            values[self._STATE_FIELDS.index("gone")] = int(state.gone)
            if state.gone:
                values.append(state.fingerprint)
            values.append(state.url)
            rows[state.gone].append(tuple(values))
        for gone, params in rows.items():
            if params:
                columns = [*self._STATE_FIELDS, *(["gone_fingerprint"] if gone else [])]
                sets = ", ".join(f"{c} = ?" for c in columns)
                self.db.conn.executemany(f"UPDATE feeds SET {sets} WHERE url = ?", params)

