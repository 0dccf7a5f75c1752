"""The entry_search FTS5 index, read by search.py.

An entry written joins `search_pending` in its feed's transaction (entries.py); the backlog
is indexed in batches of a few hundred (`index_pending`): by the daemon every few seconds, by
`veille fetch` at the end of its pass, and by every search before it reads, so a search
always sees every stored entry. FTS5 writes a segment at each commit, so a few rows in each
feed's transaction cost about twice as much per entry as batches, and the folding is done
once, off the poll's path. Rows are deleted by a trigger when their entry is (retention, or
any later way of deleting), so the index can never point at an entry that is gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from ..models import StoredEntry
from ..search import index_row
from .base import StoreBase
from .rows import _ENTRY_SELECT, _stored_entry, iso

_INSERT = ("INSERT INTO entry_search (rowid, title, body, author, source, category) "
           "VALUES (?, ?, ?, ?, ?, ?)")


#: Entries indexed per transaction: large enough for FTS5 to write few segments, small enough
#: that a poll waiting for the write lock waits a fraction of a second.
INDEX_BATCH = 500


def queue_for_index(conn: Any, entry_ids: Iterable[int]) -> None:
    """Inside the caller's transaction: these entries (new or changed) wait to be indexed."""
    conn.executemany("INSERT OR IGNORE INTO search_pending (entry_id) VALUES (?)",
                     [(i,) for i in entry_ids])


def write_index(conn: Any, rows: Iterable[tuple[int, tuple[str, ...]]]) -> None:
    """(entry id, search.index_row) pairs, inside the caller's transaction; an entry indexed
    before is replaced."""
    rows = list(rows)
    conn.executemany("DELETE FROM entry_search WHERE rowid = ?", [(i,) for i, _ in rows])
    conn.executemany(_INSERT, [(i, *row) for i, row in rows])


#: Folded rows kept for the backlog (pipeline.py indexes once this many wait): a bound, not
#: a cache size to tune; an entry whose row was dropped is folded again from the database.
MEMO_LIMIT = 4 * INDEX_BATCH


class SearchTables(StoreBase):

    @property
    def _index_memo(self) -> dict[int, tuple[str, tuple[str, ...]]]:
        """entry id -> (its content hash, its index row) for entries written and not indexed."""
        memo = self.__dict__.get("_memo")
        if memo is None:
            memo = self.__dict__["_memo"] = {}
        return memo

    def remember_index_rows(self, rows: Iterable[tuple[int, str, tuple[str, ...]]]) -> int:
        """(entry id, content hash, row) of entries just written, folded in the parser
        process: index_pending uses them instead of folding the entries again. Returns how many
        rows now wait in memory.

        Called in the transaction that writes the entries, so that every feed sharing a
        commit (write_batch.py) has its rows here before the first of them indexes the
        backlog; a rollback forgets them all (_rolled_back), an entry id written then rolled
        back may be another entry's next."""
        memo = self._index_memo
        for entry_id, content_hash, row in rows:
            memo[entry_id] = (content_hash, row)
        while len(memo) > MEMO_LIMIT:
            del memo[next(iter(memo))]
        return len(memo)

    def index_waiting(self) -> int:
        """Rows waiting in memory to be indexed: index_pending is worth its transaction once
        there are INDEX_BATCH."""
        return len(self._index_memo)

    def _rolled_back(self) -> None:
        super()._rolled_back()
        self._index_memo.clear()

    def index_pending(self, batch: int = INDEX_BATCH) -> int:
        """Index the backlog, `batch` entries per transaction; returns how many were indexed.
        An entry deleted meanwhile just leaves the backlog (its trigger took its row)."""
        done = 0
        while True:
            with self.transaction():
                ids = [r[0] for r in self.db.conn.execute(
                    "SELECT entry_id FROM search_pending ORDER BY entry_id LIMIT ?", [batch])]
                if not ids:
                    self._index_memo.clear()  # rows of entries gone before they were indexed
                    return done
                marks = ",".join("?" * len(ids))
                write_index(self.db.conn, self._rows_of(ids))
                self.db.conn.execute(f"DELETE FROM search_pending WHERE entry_id IN ({marks})",
                                     ids)
            done += len(ids)

    def _rows_of(self, ids: list[int]) -> list[tuple[int, tuple[str, ...]]]:
        """The index rows of these entries: remembered when the entry still has the hash it
        was folded with, folded from the database otherwise."""
        memo, out, fold = self._index_memo, [], []
        marks = ",".join("?" * len(ids))
        for entry_id, content_hash in self.db.conn.execute(
                f"SELECT id, content_hash FROM entries WHERE id IN ({marks})", ids):
            kept = memo.pop(entry_id, None)
            if kept is not None and kept[0] == content_hash:
                out.append((entry_id, kept[1]))
            else:
                fold.append(entry_id)
        if fold:
            marks = ",".join("?" * len(fold))
            rows = self.db.conn.execute(
                "SELECT id, title, summary_text, content_text, author, link, feed_url, "
                f"categories, outlet, outlet_url FROM entries WHERE id IN ({marks})", fold)
            out += [(r[0], index_row(r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8],
                                     r[9])) for r in rows]
        return out

    def index_backlog(self) -> int:
        """Entries stored but not yet indexed (`status`, tests)."""
        return int(self.db.execute("SELECT count(*) FROM search_pending").fetchone()[0])

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
        every row the index finds. The backlog is indexed first: a search sees every entry.
        """
        self.index_pending()
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
        """Rows in the index once its backlog is indexed (what `status` and the migration
        test compare with entries)."""
        self.index_pending()
        return int(self.db.execute("SELECT count(*) FROM entry_search").fetchone()[0])
