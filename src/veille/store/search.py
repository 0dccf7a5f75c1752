"""The entry_search FTS5 index: written with each entry (entries.py), read by search.py.

Rows are deleted by a trigger when their entry is (retention, or any later way of deleting),
so the index can never point at an entry that is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from ..models import StoredEntry
from .base import StoreBase
from .rows import _ENTRY_SELECT, _stored_entry, iso

_INSERT = ("INSERT INTO entry_search (rowid, title, body, author, source, category) "
           "VALUES (?, ?, ?, ?, ?, ?)")


def write_index(conn: Any, rows: Iterable[tuple[int, tuple[str, ...]]]) -> None:
    """(entry id, search.index_row) pairs, inside the caller's transaction; an entry indexed
    before is replaced."""
    rows = list(rows)
    conn.executemany("DELETE FROM entry_search WHERE rowid = ?", [(i,) for i, _ in rows])
    conn.executemany(_INSERT, [(i, *row) for i, row in rows])


class SearchTables(StoreBase):

    def feed_names(self) -> list[str]:
        """Every feed's name as entries show it (rows._ENTRY_SELECT's feed_name)."""
        cursor = self.db.execute(
            "SELECT COALESCE(NULLIF(NULLIF(title, ''), url), feed_title, url) FROM feeds")
        return [r[0] for r in cursor.fetchall()]

    def search_ids(self, fts: str | None, *, since: datetime | None = None,
                   feed_url: str | None = None, watchlist: str | None = None,
                   batch: int = 200) -> Iterator[list[int]]:
        """Ids of the entries the FTS5 query `fts` finds (every entry when None) within the
        filters, the last stored first, `batch` at a time. `since` counts from when veille
        first saw them.

        Newest-stored first is the index's own order: a search that wants 50 results reads
        50-odd rows, however common its words, where sorting by another column would read
        every row the index finds.
        """
        where: list[str] = []
        params: list[Any] = []
        if fts is not None:
            # CROSS JOIN keeps the index as the outer loop: the planner could otherwise walk
            # the entries and probe the index once per entry.
            source, rowid = "entry_search s CROSS JOIN entries e ON e.id = s.rowid", "s.rowid"
            where.append("entry_search MATCH ?")
            params.append(fts)
        else:
            source, rowid = "entries e", "e.id"
        if since is not None:
            where.append("e.first_seen >= ?")
            params.append(iso(since))
            # no entry seen since then has a smaller id than the first one; the index can
            # skip the rest of its lists
            where.append(f"{rowid} >= (SELECT coalesce(min(id), 0) FROM entries "
                         f"WHERE first_seen >= ?)")
            params.append(iso(since))
        if feed_url is not None:
            where.append("e.feed_url = ?")
            params.append(feed_url)
        if watchlist is not None:
            where.append("EXISTS (SELECT 1 FROM matches m WHERE m.entry_id = e.id "
                         "AND m.watchlist = ?)")
            params.append(watchlist)
        cursor = self.db.execute(
            f"SELECT {rowid} FROM {source} WHERE {' AND '.join(where) or '1'} "
            f"ORDER BY {rowid} DESC", params)
        while rows := cursor.fetchmany(batch):
            yield [r[0] for r in rows]

    def entries_by_id(self, ids: Sequence[int]) -> list[tuple[StoredEntry, int | None]]:
        """The entries with these ids and their story ids, in the order of `ids`."""
        if not ids:
            return []
        rows = self._rows(
            f"SELECT sub.*, es.story_id AS story_id FROM ({_ENTRY_SELECT} "
            f"WHERE e.id IN ({','.join('?' * len(ids))})) sub "
            f"LEFT JOIN entry_stories es ON es.entry_id = sub.id", list(ids))
        by_id = {r["id"]: r for r in rows}
        return [(_stored_entry(by_id[i]), by_id[i]["story_id"]) for i in ids if i in by_id]

    def search_index_size(self) -> int:
        """Rows in the index (what `status` and the migration test compare with entries)."""
        return int(self.db.execute("SELECT count(*) FROM entry_search").fetchone()[0])
