"""The SQLite edge: feeds with their fetch state, entries (deduplicated), matches, deliveries.

WAL mode and a busy timeout let the CLI read while the daemon writes. The schema is versioned
with sqlite-utils migrations: add a migration, never edit one that has shipped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .errors import StorageError
from .match import MatchResult
from .models import FeedSource, FeedState, OpenBatch, ParsedEntry, StoredEntry, StoredMatch

migrations = Migrations("veille")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    _execute_all(db, """
    CREATE TABLE feeds (
        url TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        folder TEXT NOT NULL DEFAULT '',
        html_url TEXT NOT NULL DEFAULT '',
        interval REAL,
        fingerprint TEXT NOT NULL DEFAULT '',
        in_opml INTEGER NOT NULL DEFAULT 1,
        position INTEGER NOT NULL DEFAULT 0,
        feed_title TEXT,
        site_link TEXT,
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,
        last_fetch TEXT,
        last_success TEXT,
        last_status INTEGER,
        error_kind TEXT,
        error_message TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        error_since TEXT,
        moved_to TEXT,
        gone INTEGER NOT NULL DEFAULT 0,
        gone_fingerprint TEXT,
        next_due TEXT,
        max_age REAL,
        ttl REAL
    );
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        feed_url TEXT NOT NULL REFERENCES feeds(url),
        key TEXT NOT NULL,
        guid TEXT,
        title TEXT NOT NULL DEFAULT '',
        link TEXT,
        author TEXT,
        published TEXT NOT NULL,
        dated INTEGER NOT NULL DEFAULT 1,
        updated TEXT,
        summary_html TEXT NOT NULL DEFAULT '',
        summary_text TEXT NOT NULL DEFAULT '',
        content_html TEXT NOT NULL DEFAULT '',
        content_text TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        language TEXT,
        content_hash TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        changed_at TEXT,
        changes INTEGER NOT NULL DEFAULT 0,
        UNIQUE (feed_url, key)
    );
    CREATE INDEX entries_first_seen ON entries (first_seen);
    CREATE INDEX entries_published ON entries (published);
    CREATE TABLE matches (
        id INTEGER PRIMARY KEY,
        watchlist TEXT NOT NULL,
        entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
        terms TEXT NOT NULL DEFAULT '[]',
        snippet TEXT NOT NULL DEFAULT '',
        matched_at TEXT NOT NULL,
        silent INTEGER NOT NULL DEFAULT 0,
        UNIQUE (watchlist, entry_id)
    );
    CREATE INDEX matches_matched_at ON matches (watchlist, matched_at);
    CREATE INDEX matches_entry ON matches (entry_id);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        match_id INTEGER NOT NULL REFERENCES matches(id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        delivered_at TEXT,
        batch_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_attempt TEXT,
        next_attempt TEXT,
        last_error TEXT,
        UNIQUE (match_id, channel)
    );
    CREATE INDEX deliveries_pending ON deliveries (channel, delivered_at);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    """)


@migrations()
def m002_delivery_claims(db: sqlite_utils.Database) -> None:
    """A process sending a batch claims it, so the daemon and a `digest --send` typed at the
    same moment do not both send it."""
    db.execute("ALTER TABLE deliveries ADD COLUMN claimed_until TEXT")


def _execute_all(db: sqlite_utils.Database, script: str) -> None:
    """Run each statement; executescript() would COMMIT and break the migration's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def iso(when: datetime | None) -> str | None:
    """UTC, microsecond precision, one fixed-width format: string order is time order.
    (Second precision would make a feed due up to a second early.)"""
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    )


def _entry_from(entry_id: int, feed_url: str, feed_name: str, e: ParsedEntry,
                published: datetime, dated: bool, first_seen: datetime,
                changed_at: datetime | None, changes: int) -> StoredEntry:
    return StoredEntry(
        id=entry_id, feed_url=feed_url, feed_title=feed_name or feed_url, key=e.key,
        title=e.title, link=e.link, author=e.author,
        published=published, updated=e.updated,
        summary_text=e.summary_text, content_text=e.content_text, summary_html=e.summary_html,
        content_html=e.content_html, categories=e.categories, language=e.language,
        first_seen=first_seen, changed_at=changed_at,
        changes=changes, dated=dated)


@dataclass(frozen=True)
class EntryChange:
    """An entry as just stored, and whether it was new or changed by this fetch."""

    entry: StoredEntry
    new: bool


_ENTRY_SELECT = """
    SELECT e.*, COALESCE(NULLIF(NULLIF(f.title, ''), f.url), f.feed_title, f.url) AS feed_name
    FROM entries e JOIN feeds f ON f.url = e.feed_url
"""


class Store:
    def __init__(self, db: sqlite_utils.Database, path: Path | None = None) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, timeout: float = 30.0) -> Store:
        """Open (creating if needed) and migrate. Any failure is a StorageError naming the file."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            db = sqlite_utils.Database(conn)
            migrations.apply(db)
        except (sqlite3.Error, OSError) as e:
            raise StorageError(path, f"cannot use the database: {e}") from None
        return cls(db, path)

    @classmethod
    def memory(cls) -> Store:
        db = sqlite_utils.Database(memory=True)
        db.conn.isolation_level = None
        migrations.apply(db)
        return cls(db)

    def close(self) -> None:
        self.db.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (one per feed, per delivery)."""
        with self.db.atomic():
            yield

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # --- feeds --------------------------------------------------------------------------------

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

    def feeds(self, urls: Iterable[str] | None = None, *, all_feeds: bool = False
              ) -> list[FeedState]:
        where, params = ("" if all_feeds else "WHERE f.in_opml = 1"), []
        if urls is not None:
            urls = list(urls)
            where = f"WHERE f.url IN ({','.join('?' * len(urls))})"
            params = urls
        rows = self._rows(
            f"""SELECT f.*, (SELECT count(*) FROM entries e WHERE e.feed_url = f.url)
                   AS entry_count FROM feeds f {where}
                ORDER BY f.in_opml DESC, f.position, f.rowid""", params)
        return [_feed_state(r) for r in rows]

    def feed(self, url: str) -> FeedState | None:
        found = self.feeds([url])
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
        values = {k: getattr(state, k) for k in self._STATE_FIELDS}
        values["gone"] = int(state.gone)
        if state.gone:
            values["gone_fingerprint"] = state.fingerprint
        self.update_feed(state.url, **values)

    # --- entries ------------------------------------------------------------------------------

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

    # --- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value", [key, value])

    # --- matches ------------------------------------------------------------------------------

    def add_matches(self, results: Iterable[tuple[MatchResult, bool]], now: datetime) -> int:
        """Record (match, silent) pairs; an entry already matched by a watchlist is left alone,
        so an entry edited by its feed never alerts twice. Returns how many were new."""
        added = 0
        for m, silent in results:
            cursor = self.db.execute(
                """INSERT INTO matches (watchlist, entry_id, terms, snippet, matched_at, silent)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (watchlist, entry_id) DO NOTHING""",
                [m.watchlist, m.entry_id, json.dumps(list(m.terms), ensure_ascii=False),
                 m.snippet, iso(now), int(silent)],
            )
            added += cursor.rowcount
        return added

    def match_counts(self, since: datetime) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT watchlist, count(*) FROM matches WHERE matched_at >= ? AND silent = 0 "
            "GROUP BY watchlist", [iso(since)])
        return dict(rows.fetchall())

    def matched_entries(self, watchlists: Sequence[str] | None = None, *,
                        since: datetime | None = None, pending_for: Sequence[str] = (),
                        matched_since: datetime | None = None, unbatched_for: str | None = None,
                        match_ids: Sequence[int] | None = None,
                        include_silent: bool = False) -> list[StoredMatch]:
        """Matches with their entries, newest first.

        `pending_for`: only those some of these channels has not accepted yet.
        `unbatched_for`: only those not yet put in a delivery batch for that channel.
        """
        where: list[str] = ["1"]
        params: list[Any] = []
        if watchlists is not None:
            where.append(f"m.watchlist IN ({','.join('?' * len(watchlists))})")
            params += list(watchlists)
        if match_ids is not None:
            where.append(f"m.id IN ({','.join('?' * len(match_ids))})")
            params += list(match_ids)
        if since is not None:
            where.append("sub.first_seen >= ?")
            params.append(iso(since))
        if matched_since is not None:
            where.append("m.matched_at >= ?")
            params.append(iso(matched_since))
        if not include_silent:
            where.append("m.silent = 0")
        if pending_for:
            where.append("(" + " OR ".join(
                "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.match_id = m.id "
                "AND d.channel = ? AND d.delivered_at IS NOT NULL)" for _ in pending_for) + ")")
            params += list(pending_for)
        if unbatched_for is not None:
            where.append("NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.match_id = m.id "
                         "AND d.channel = ?)")
            params.append(unbatched_for)
        rows = self._rows(
            f"""SELECT m.id AS match_id, m.watchlist, m.terms AS match_terms, m.snippet,
                       m.matched_at, m.silent, sub.*
                FROM matches m JOIN ({_ENTRY_SELECT}) sub ON sub.id = m.entry_id
                WHERE {' AND '.join(where)}
                ORDER BY sub.published DESC, sub.id DESC""", params)
        return [StoredMatch(id=r["match_id"], watchlist=r["watchlist"],
                            terms=tuple(json.loads(r["match_terms"])), snippet=r["snippet"],
                            matched_at=at(r["matched_at"]), silent=bool(r["silent"]),
                        entry=_stored_entry(r)) for r in rows]

    # --- the delivery outbox ------------------------------------------------------------------

    def create_batch(self, batch_id: str, channel: str, match_ids: Sequence[int]) -> None:
        """Put matches in a batch before the first attempt: a retry resends the same batch,
        with the same id, so receivers can drop the duplicate a crash may cause."""
        with self.transaction():
            for match_id in match_ids:
                self.db.execute(
                    "INSERT INTO deliveries (match_id, channel, batch_id) VALUES (?, ?, ?) "
                    "ON CONFLICT (match_id, channel) DO NOTHING", [match_id, channel, batch_id])

    def open_batches(self, channel: str, watchlist: str | None = None
                     ) -> list[OpenBatch]:
        """Batches not yet accepted by `channel`, oldest first."""
        sql = """SELECT d.batch_id, m.watchlist, group_concat(d.match_id) AS ids,
                        max(d.attempts) AS attempts, max(d.next_attempt) AS next_attempt,
                        max(d.last_error) AS last_error, min(d.id) AS first
                 FROM deliveries d JOIN matches m ON m.id = d.match_id
                 WHERE d.channel = ? AND d.delivered_at IS NULL"""
        params: list[Any] = [channel]
        if watchlist is not None:
            sql += " AND m.watchlist = ?"
            params.append(watchlist)
        rows = self._rows(sql + " GROUP BY d.batch_id, m.watchlist ORDER BY first", params)
        return [OpenBatch(r["batch_id"], r["watchlist"], channel,
                          tuple(int(i) for i in r["ids"].split(",")), r["attempts"],
                          from_iso(r["next_attempt"]), r["last_error"]) for r in rows]

    def claim_batch(self, batch_id: str, channel: str, now: datetime, until: datetime) -> bool:
        """Take the batch for sending; False if another process holds an unexpired claim (or it
        was delivered meanwhile). A crashed sender's claim expires at `until`."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE deliveries SET claimed_until = ? WHERE batch_id = ? AND channel = ? "
                "AND delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)",
                [iso(until), batch_id, channel, iso(now)])
        return cursor.rowcount > 0

    def mark_delivered(self, batch_id: str, channel: str, now: datetime) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE deliveries SET delivered_at = ?, attempts = attempts + 1, "
                "last_attempt = ?, last_error = NULL, next_attempt = NULL, claimed_until = NULL "
                "WHERE batch_id = ? AND channel = ?", [iso(now), iso(now), batch_id, channel])

    def mark_failed(self, batch_id: str, channel: str, error: str, now: datetime,
                    next_attempt: datetime) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_attempt = ?, "
                "last_error = ?, next_attempt = ?, claimed_until = NULL "
                "WHERE batch_id = ? AND channel = ?",
                [iso(now), error, iso(next_attempt), batch_id, channel])

    def pending_count(self, watchlist: str, channel: str, matched_since: datetime) -> int:
        """Matches of `watchlist` that `channel` has not accepted yet, batched or not."""
        return self.db.execute(
            """SELECT count(*) FROM matches m WHERE m.watchlist = ? AND m.silent = 0
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.match_id = m.id
                               AND d.channel = ? AND d.delivered_at IS NOT NULL)
               AND (m.matched_at >= ? OR EXISTS (SELECT 1 FROM deliveries d
                    WHERE d.match_id = m.id AND d.channel = ?))""",
            [watchlist, channel, iso(matched_since), channel]).fetchone()[0]

    def delivery_summary(self) -> dict[str, dict[str, Any]]:
        """Per channel: matches waiting in failed batches, the last error, and when it failed."""
        rows = self._rows(
            """SELECT channel, count(*) AS pending,
                      sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS failed,
                      max(last_error) AS last_error, max(last_attempt) AS last_attempt,
                      min(next_attempt) AS next_attempt
               FROM deliveries WHERE delivered_at IS NULL GROUP BY channel""")
        delivered = dict(self.db.execute(
            "SELECT channel, max(delivered_at) FROM deliveries GROUP BY channel").fetchall())
        out = {r["channel"]: {**r, "last_delivered": delivered.get(r["channel"])} for r in rows}
        for channel, when in delivered.items():
            out.setdefault(channel, {"channel": channel, "pending": 0, "failed": 0,
                                     "last_error": None, "last_attempt": None,
                                     "next_attempt": None, "last_delivered": when})
        return out
