"""Keeping the database file safe and small: private files, online backups, the copy kept
before a migration, an integrity and size report, and giving pages freed by retention back.

Backups use SQLite's online backup API in a single step: it reads one snapshot (in WAL mode a
reader never blocks the daemon's writes, nor is it disturbed by them), so the copy is
consistent however busy the daemon is. A step-by-step backup would restart every time another
connection wrote between two steps, and might never finish beside a busy daemon.

Space: a new database is created with `auto_vacuum = INCREMENTAL`, so the pages retention frees
can be given back with `PRAGMA incremental_vacuum` (cheap, no rewrite). A database created
before has `auto_vacuum = NONE`; SQLite can only change that with a full VACUUM, which rewrites
the file in one transaction (a failure leaves it as it was), so it is done once, by the daemon,
and only when the disk has room for the copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

PRE_MIGRATION_SUFFIX = ".pre-migration.bak"
INCREMENTAL = 2  # PRAGMA auto_vacuum: 0 none, 1 full, 2 incremental


def create_private(path: Path) -> None:
    """Create `path` empty and readable by its owner only, if it does not exist yet.

    SQLite creates a missing database file with the umask's mode (often world-readable) and
    gives its -wal and -shm files the database's mode: creating it first, 0600, covers all three.
    """
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            if not folder.is_dir():  # database = "/dev/null/veille.db"
                raise NotADirectoryError(f"{folder} is not a directory")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def pre_migration_path(database: Path) -> Path:
    return database.with_name(database.name + PRE_MIGRATION_SUFFIX)


def backup(source: sqlite3.Connection, target: Path) -> None:
    """A consistent copy of `source` at `target`, replacing it atomically (temp + rename).

    The copy is a self-contained file (rollback journal, not WAL), private to its owner.
    """
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    create_private(temp)
    try:
        dest = sqlite3.connect(temp, isolation_level=None)
        try:
            source.backup(dest)  # pages=-1: one step, one snapshot (see the module docstring)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ObjectSize:
    """One table or index and the space it takes in the file."""

    name: str
    kind: str  # table | index
    table: str
    bytes: int | None  # None when SQLite was built without the dbstat table
    rows: int | None = None  # tables only


@dataclass(frozen=True)
class CheckReport:
    problems: list[str]  # what `PRAGMA integrity_check` found; empty when the file is sound
    objects: list[ObjectSize]
    page_size: int
    page_count: int
    free_pages: int
    auto_vacuum: int

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def file_bytes(self) -> int:
        return self.page_size * self.page_count


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def check(conn: sqlite3.Connection) -> CheckReport:
    """Integrity check, then the size of each table and index (largest first)."""
    found = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    problems = [] if found == ["ok"] else found
    schema = conn.execute("SELECT name, type, tbl_name FROM sqlite_schema "
                          "WHERE type IN ('table', 'index')").fetchall()
    try:
        sizes = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:  # no dbstat in this build of SQLite: rows only
        sizes = {}
    objects = []
    for name, kind, table in schema:
        rows = None
        if kind == "table":
            rows = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        objects.append(ObjectSize(name, kind, table, sizes.get(name), rows))
    objects.sort(key=lambda o: (-(o.bytes or 0), o.name))
    return CheckReport(problems, objects, _pragma(conn, "page_size"),
                       _pragma(conn, "page_count"), _pragma(conn, "freelist_count"),
                       _pragma(conn, "auto_vacuum"))


@dataclass(frozen=True)
class Reclaimed:
    """What `reclaim` did: bytes given back to the file system, and whether it had to convert
    the file to incremental auto-vacuum first (a one-time full VACUUM)."""

    freed_bytes: int
    converted: bool = False
    skipped: str | None = None  # why a needed conversion was not done


def reclaim(conn: sqlite3.Connection, path: Path | None) -> Reclaimed:
    """Give the pages retention freed back to the file system, so the file stays bounded.

    Must run outside a transaction (VACUUM cannot run inside one).
    """
    page_size = _pragma(conn, "page_size")
    before = _pragma(conn, "page_count")
    converted = False
    if _pragma(conn, "auto_vacuum") != INCREMENTAL:
        size = before * page_size
        # VACUUM writes a full copy (temp file, then the WAL) before the old pages go
        if path is not None and shutil.disk_usage(path.parent).free < 2 * size:
            return Reclaimed(0, skipped=f"converting it needs {2 * size} bytes free on disk")
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        try:
            conn.execute("VACUUM")
        except sqlite3.OperationalError as e:  # busy, or the disk filled: the file is intact
            return Reclaimed(0, skipped=f"VACUUM failed: {e}")
        converted = True
    else:
        # each step of this statement frees one page, and execute() steps a statement that
        # returns no columns only once: executescript() runs it to its end
        conn.executescript("PRAGMA incremental_vacuum")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Reclaimed(max(0, before - _pragma(conn, "page_count")) * page_size, converted)
