"""The entries table: every entry stored once per feed, updated in place when it changes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from ..models import ParsedEntry, StoredEntry
from .base import StoreBase
from .rows import _ENTRY_SELECT, EntryChange, _entry_from, _stored_entry, at, iso


class EntryTables(StoreBase):

    def upsert_entries(self, feed_url: str, entries: Iterable[ParsedEntry], now: datetime,
                       feed_name: str = "") -> list[EntryChange]:
        """Insert new entries, update changed ones in place; unchanged ones are not returned.

        An updated entry keeps `first_seen` and its published date (the feed may drop it), and
        records when it changed and how many times. The returned entries are built from what
        was written, not read back: this runs for every entry of every poll.
        """
        entries = list(entries)
        if not entries:
            return []
        existing = {
            row[0]: row[1:]
            for row in self.db.conn.execute(
                f"SELECT key, id, content_hash, published, dated, first_seen, changes "
                f"FROM entries WHERE feed_url = ? AND key IN ({','.join('?' * len(entries))})",
                [feed_url, *(e.key for e in entries)],
            )
        }
        seen = iso(now)
        out: list[EntryChange] = []
        for e in entries:
            content_hash = e.content_hash
            values = {
                "title": e.title, "link": e.link, "author": e.author, "guid": e.guid,
                "updated": iso(e.updated), "summary_html": e.summary_html,
                "summary_text": e.summary_text, "content_html": e.content_html,
                "content_text": e.content_text, "categories": json.dumps(list(e.categories),
                                                                         ensure_ascii=False),
                "language": e.language, "content_hash": content_hash,
            }
            old = existing.get(e.key)
            if old is None:
                published = e.published or now
                cursor = self.db.conn.execute(
                    f"""INSERT INTO entries (feed_url, key, published, dated, first_seen,
                          {', '.join(values)}) VALUES (?, ?, ?, ?, ?,
                          {', '.join('?' * len(values))})""",
                    [feed_url, e.key, iso(published), int(e.published is not None), seen,
                     *values.values()],
                )
                assert cursor.lastrowid is not None
                stored = _entry_from(cursor.lastrowid, feed_url, feed_name, e, published,
                                     e.published is not None, now, None, 0)
                out.append(EntryChange(stored, True))
            elif old[1] != content_hash:
                entry_id, _, old_published, dated, first_seen, changes = old
                published = e.published or at(old_published)
                values["published"] = iso(published)
                self.db.conn.execute(
                    f"""UPDATE entries SET {', '.join(f'{k} = ?' for k in values)},
                          changed_at = ?, changes = changes + 1 WHERE id = ?""",
                    [*values.values(), seen, entry_id],
                )
                stored = _entry_from(entry_id, feed_url, feed_name, e, published,
                                     bool(dated) or e.published is not None,
                                     at(first_seen), now, changes + 1)
                out.append(EntryChange(stored, False))
        return out

    def entries(self, *, since: datetime | None = None, feed_url: str | None = None,
                limit: int | None = 50, order: str = "newest") -> list[StoredEntry]:
        """Newest first by published date; `since` counts from when veille first saw them."""
        where, params = ["1"], []
        if since is not None:
            where.append("e.first_seen >= ?")
            params.append(iso(since))
        if feed_url is not None:
            where.append("e.feed_url = ?")
            params.append(feed_url)
        sql = f"{_ENTRY_SELECT} WHERE {' AND '.join(where)} ORDER BY e.published DESC, e.id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_stored_entry(r) for r in self._rows(sql, params)]

    def iter_entries(self, *, since: datetime | None = None, batch: int = 1000
                     ) -> Iterator[StoredEntry]:
        """Every entry first seen since `since`, oldest first, without loading them all at once."""
        last_id = 0
        while True:
            params: list[Any] = [last_id]
            sql = f"{_ENTRY_SELECT} WHERE e.id > ?"
            if since is not None:
                sql += " AND e.first_seen >= ?"
                params.append(iso(since))
            rows = self._rows(f"{sql} ORDER BY e.id LIMIT {batch}", params)
            if not rows:
                return
            yield from (_stored_entry(r) for r in rows)
            last_id = rows[-1]["id"]

    def prune(self, older_than: datetime) -> int:
        """Delete entries first seen before `older_than` that matched nothing; matched ones and
        the delivery log are kept. Returns how many were deleted."""
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM entries WHERE first_seen < ? AND NOT EXISTS "
                "(SELECT 1 FROM matches m WHERE m.entry_id = entries.id)", [iso(older_than)])
        return cursor.rowcount

    def optimize(self) -> None:
        self.db.execute("PRAGMA optimize")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

