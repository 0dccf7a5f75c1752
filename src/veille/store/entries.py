"""The entries table: every entry stored once per feed, updated in place when it changes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from operator import itemgetter
from typing import Any

from ..folding import FoldedEntry
from ..models import ParsedEntry, StoredEntry, stored_entry
from .base import StoreBase
from .rows import _ENTRY_SELECT, EntryChange, _stored_entry, at, iso, json_strings
from .search import queue_for_index

#: Updates an entry may receive from a changed hash alone (reader caps them at 24 too).
MAX_HASH_UPDATES = 24


@dataclass(frozen=True)
class EntryWrite:
    """One entry write, planned before the transaction that applies it."""

    change: EntryChange  # the entry as it will be stored; id 0 until a new one is inserted
    values: dict[str, Any]
    expect_hash: str | None  # the hash the row must still have; None: the row must not exist
    silent: bool  # a parser-only change: stored, not matched again, no alert
    hash_only: bool  # counts against MAX_HASH_UPDATES
    folded: FoldedEntry | None = None  # the entry's words, folded by the parser process
    source: int = -1  # the entry's place in the parsed feed (what the parser prepared for it)


class Plan(list[EntryWrite]):
    """The writes of one feed's fetch, and the fingerprints to record for entries that did
    not change but were read in full (stored before their fingerprint was, or by the full
    parser, or hashed by an earlier parser version that renders them the same):
    (fingerprint, parser, entry id)."""

    def __init__(self, writes: Iterable[EntryWrite] = (),
                 fingerprints: list[tuple[str, str, int]] | None = None) -> None:
        super().__init__(writes)
        self.fingerprints = fingerprints or []


#: A new entry's columns after feed_url (read from its values by name).
_NEW_COLUMNS = ("title", "link", "author", "guid", "updated", "summary_html", "summary_text",
                "content_html", "content_text", "categories", "language", "content_hash",
                "hash_version", "outlet", "outlet_url", "key", "published", "dated",
                "first_seen", "fingerprint")
_new_values = itemgetter(*_NEW_COLUMNS)
#: One statement for every new entry: prepared once, where a statement built per row is
#: parsed again for each (SQLite's statement cache is keyed by the text).
_INSERT = (f"INSERT INTO entries (feed_url, {', '.join(_NEW_COLUMNS)}) "
           f"VALUES (?{', ?' * len(_NEW_COLUMNS)}) ON CONFLICT (feed_url, key) DO NOTHING")


def _values(e: ParsedEntry, content_hash: str, parser: str, updated: str | None,
            published: datetime) -> dict[str, Any]:
    """The columns a write sets, new entry or updated one (a new entry adds its key, dated and
    first_seen). Built only for the entries that are written: most of a feed's are not."""
    return {"title": e.title, "link": e.link, "author": e.author, "guid": e.guid,
            "updated": updated, "summary_html": e.summary_html, "summary_text": e.summary_text,
            "content_html": e.content_html, "content_text": e.content_text,
            "categories": json_strings(e.categories), "language": e.language,
            "content_hash": content_hash, "hash_version": parser, "outlet": e.outlet,
            "outlet_url": e.outlet_url, "published": iso(published),
            "fingerprint": e.fingerprint}


class EntryTables(StoreBase):

    def upsert_entries(self, feed_url: str, entries: Iterable[ParsedEntry], now: datetime,
                       feed_name: str = "", parser: str = "") -> list[EntryChange]:
        """Plan and write in one transaction; returns the entries to match (new or changed)."""
        plan = self.plan_entries(feed_url, entries, now, feed_name, parser)
        with self.transaction():
            written = self.write_entries(feed_url, plan, now)
        return [replace(w.change, entry=replace(w.change.entry, id=written[i]))
                for i, w in enumerate(plan) if i in written and not w.silent]

    def plan_entries(self, feed_url: str, entries: Iterable[ParsedEntry], now: datetime,
                     feed_name: str = "", parser: str = "",
                     folded: Sequence[FoldedEntry] = ()) -> Plan:
        """What a fetch changes, decided from one read, outside any transaction (so that matching
        the changes does not hold the write lock). Unchanged entries are left out.

        An updated entry keeps `first_seen` and its published date (the feed may drop it), and
        records when it changed and how many times. A change that comes from another `parser`
        than the one that hashed the stored entry is silent: stored, never matched again. Such
        parser-only updates and updates where only the hash moved (the feed kept the entry's
        `updated` date) are capped at MAX_HASH_UPDATES per entry, like reader does.

        `folded`: each entry's fold (folding.py), in the order of `entries`, when the parser
        process made them.
        """
        entries = list(entries)
        if not entries:
            return Plan()
        folds: Sequence[FoldedEntry | None] = (
            folded if len(folded) == len(entries) else [None] * len(entries))
        existing = {
            row[0]: row[1:]
            for row in self.db.conn.execute(
                f"SELECT key, id, content_hash, published, dated, first_seen, changes, updated, "
                f"hash_version, hash_updates, fingerprint "
                f"FROM entries WHERE feed_url = ? AND key IN ({','.join('?' * len(entries))})",
                [feed_url, *(e.key for e in entries)],
            )
        }
        out = Plan()
        seen = iso(now)
        for source, (e, fold) in enumerate(zip(entries, folds, strict=True)):
            content_hash = (fold.content_hash if fold is not None and fold.content_hash
                            else e.content_hash)
            old = existing.get(e.key)
            if old is None:
                published = e.published or now
                dated = e.published is not None
                stored = stored_entry(0, feed_url, feed_name, e, published, dated, now, None, 0)
                values = _values(e, content_hash, parser, iso(e.updated), published)
                values.update(key=e.key, dated=int(dated), first_seen=seen)
                out.append(EntryWrite(EntryChange(stored, True), values, None, False, False,
                                      fold, source))
                continue
            (entry_id, old_hash, old_published, dated, first_seen, changes, old_updated,
             old_version, hash_updates, old_fingerprint) = old
            if old_hash == content_hash:
                if e.fingerprint and e.fingerprint != old_fingerprint:
                    out.fingerprints.append((e.fingerprint, parser, entry_id))
                continue
            updated = iso(e.updated)
            silent = old_version != parser
            hash_only = silent or updated == old_updated
            if hash_only and hash_updates >= MAX_HASH_UPDATES:
                continue
            published = e.published or at(old_published)
            values = _values(e, content_hash, parser, updated, published)
            stored = stored_entry(entry_id, feed_url, feed_name, e, published,
                                 bool(dated) or e.published is not None, at(first_seen),
                                 now, changes + (not silent))
            out.append(EntryWrite(EntryChange(stored, False), values, old_hash, silent,
                                  hash_only, fold, source))
        return out

    def write_entries(self, feed_url: str, plan: Sequence[EntryWrite], now: datetime
                      ) -> dict[int, int]:
        """Apply a plan inside the caller's transaction; returns {plan index: entry id} of the
        writes that still applied. One that another writer overtook since the plan was made
        (the row appeared, or its hash moved) is dropped: that writer stored the same news.
        The entries written join the search index's backlog in the same transaction
        (store/search.py indexes it in batches; every search indexes it first)."""
        written: dict[int, int] = {}
        seen = iso(now)
        execute = self.db.conn.execute
        for i, w in enumerate(plan):
            if w.expect_hash is None:
                cursor = execute(_INSERT, (feed_url, *_new_values(w.values)))
                if cursor.rowcount:
                    assert cursor.lastrowid is not None
                    written[i] = cursor.lastrowid
                continue
            sets = [f"{k} = ?" for k in w.values]
            params = list(w.values.values())
            if w.hash_only:
                sets.append("hash_updates = hash_updates + 1")
            if not w.silent:
                sets += ["changed_at = ?", "changes = changes + 1"]
                params.append(seen)
            cursor = execute(
                f"UPDATE entries SET {', '.join(sets)} WHERE id = ? AND content_hash = ?",
                [*params, w.change.entry.id, w.expect_hash])
            if cursor.rowcount:
                written[i] = w.change.entry.id
        if isinstance(plan, Plan) and plan.fingerprints:
            self.db.conn.executemany(
                "UPDATE entries SET fingerprint = ?, hash_version = ? WHERE id = ?",
                plan.fingerprints)
        queue_for_index(self.db.conn, written.values())
        return written

    def known_items(self, feed_url: str, limit: int = 2000) -> dict[str, str]:
        """{fingerprint: entry key} of the feed's latest entries, for its next parse to leave
        those items unread (entry_fingerprint.py). Feeds carry their last few dozen items;
        `limit` bounds what a feed with a long history costs (read newest first, along the
        entries_feed_published index: no sort)."""
        return dict(self.db.conn.execute(
            "SELECT fingerprint, key FROM entries WHERE feed_url = ? AND fingerprint IS NOT NULL "
            "ORDER BY published DESC LIMIT ?", [feed_url, limit]))

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

