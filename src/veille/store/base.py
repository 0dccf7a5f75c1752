"""Connections and transactions: one connection per thread, writes that take the lock first.

SQLite in WAL mode lets readers run beside one writer. A deferred `BEGIN` that reads before
it writes cannot wait for the lock: when another connection commits in between, its first
write fails at once with "database is locked" whatever the busy timeout says (the snapshot it
read is stale). `BEGIN IMMEDIATE` takes the write lock up front, so the busy timeout applies
and writers simply wait their turn.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import StorageError
from . import maintenance
from .maintenance import backup, create_private, pre_migration_path
from .schema import migrations

BUSY_TIMEOUT = 30.0


def connect(path: Path, timeout: float) -> sqlite_utils.Database:
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    # before the first table exists, or it cannot take effect without a VACUUM (maintenance.py)
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # no sqlite-utils plugins: what the database does must not depend on what else is
    # installed, and looking for them scans every package's entry points (~30 ms a process)
    return sqlite_utils.Database(conn, execute_plugins=False)


class StoreBase:
    def __init__(self, db: sqlite_utils.Database | None = None, path: Path | None = None,
                 timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._shared = db  # an in-memory database has one connection, whatever the thread
        self._local = threading.local()
        self._opened: list[sqlite_utils.Database] = []
        self._opened_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str, *, timeout: float = BUSY_TIMEOUT) -> Any:
        """Open (creating if needed, private to its owner) and migrate, keeping a copy of the
        database as it was before a migration. Any failure is a StorageError naming the file."""
        path = Path(path)
        try:
            create_private(path)
            store = cls(path=path, timeout=timeout)
            db = store.db
            if migrations.applied(db) and migrations.pending(db):
                backup(db.conn, pre_migration_path(path))
            with store.transaction():
                migrations.apply(db)
        except (sqlite3.Error, OSError) as e:
            raise StorageError(path, f"cannot use the database: {e}") from None
        return store

    @classmethod
    def memory(cls) -> Any:
        db = sqlite_utils.Database(memory=True, execute_plugins=False)
        db.conn.isolation_level = None
        migrations.apply(db)
        return cls(db)

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection: a sqlite3 connection must not be shared across threads
        while one of them is inside a transaction."""
        if self._shared is not None:
            return self._shared
        db = getattr(self._local, "db", None)
        if db is None:
            assert self.path is not None
            db = connect(self.path, self.timeout)
            self._local.db = db
            with self._opened_lock:
                self._opened.append(db)
        return db

    def close(self) -> None:
        if self._shared is not None:
            self._shared.conn.close()
        with self._opened_lock:
            for db in self._opened:
                db.conn.close()
            self._opened.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (one per feed, per delivery).

        The outermost level takes the write lock up front (`BEGIN IMMEDIATE`, see the module
        docstring); inner levels are savepoints, all of one name (SQLite releases the latest
        of that name): a fixed statement, prepared once, where sqlite-utils' atomic() makes
        a random name, hence three new statements, for each feed's savepoint.
        """
        conn = self.db.conn
        if conn.in_transaction:
            conn.execute("SAVEPOINT veille")
            try:
                yield
            except BaseException:
                # some errors (a full disk) end the whole transaction, savepoints included
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO SAVEPOINT veille")
                    conn.execute("RELEASE SAVEPOINT veille")
                self._rolled_back()
                raise
            conn.execute("RELEASE SAVEPOINT veille")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._rolled_back()
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._rolled_back()
            raise

    def _rolled_back(self) -> None:
        """Writes were rolled back: forget what memory holds about uncommitted rows (the
        search index's folded rows, store/search.py)."""

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # --- the file (maintenance.py) ---------------------------------------------------------

    def backup(self, target: Path) -> None:
        """A consistent copy at `target`, even while another process writes."""
        if self.path is not None and target.resolve() == self.path.resolve():
            raise StorageError(target, "is the database itself: choose another file")
        try:
            maintenance.backup(self.db.conn, target)
        except (sqlite3.Error, OSError) as e:
            raise StorageError(target, f"cannot write the backup: {e}") from None

    def check(self) -> maintenance.CheckReport:
        return maintenance.check(self.db.conn)

    def reclaim(self) -> maintenance.Reclaimed:
        """Give the pages freed by retention back to the file system (see maintenance.py)."""
        return maintenance.reclaim(self.db.conn, self.path)

    # --- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value", [key, value])

    def count_event(self, key: str) -> None:
        """Add one to a counter kept in meta (parser crashes, timeouts…) for `status`."""
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) "
                        "DO UPDATE SET value = CAST(value AS INTEGER) + 1", [key])
