"""The database over months: online backups, checks, the copy kept before a migration, private
files, and pages freed by retention given back to the file system."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from veille.daemon_lock import DaemonLock
from veille.models import FeedSource, ParsedEntry
from veille.store import Store, migrations
from veille.store.maintenance import pre_migration_path

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# Each transaction adds one row and sets `w:count` to the number of rows: a copy taken in the
# middle of a transaction would break that equality.
WRITER = textwrap.dedent("""
    import sys
    from veille.store import Store
    store = Store.open(sys.argv[1])
    i = 0
    while True:
        with store.transaction():
            store.set_meta(f"w:{i:08d}", "x" * 2000)
            store.set_meta("w:count", str(i + 1))
        i += 1
        if i in (200, 2000):
            print(i, flush=True)
""")


def entry(key: str, text: str = "") -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=f"titre {key}", link=None, author=None,
                       published=NOW, updated=None, summary_html=text, summary_text=text,
                       content_html="", content_text="")


def _invariant_holds(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'w:0%'").fetchone()[0]
        count = int(conn.execute("SELECT value FROM meta WHERE key = 'w:count'").fetchone()[0])
        assert rows == count
        return count
    finally:
        conn.close()


def test_backup_taken_while_another_process_writes_is_consistent(workspace):
    database = workspace.root / "var" / "veille.db"
    Store.open(database).close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(database)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "200"  # it is writing
        copies = []
        for n in range(3):
            target = workspace.root / f"copy{n}.db"
            result = workspace.run("db", "backup", str(target))
            assert "backed up" in result.output
            copies.append(target)
        assert writer.poll() is None  # still writing after the copies
        assert writer.stdout.readline().strip() == "2000"
    finally:
        writer.terminate()
        writer.wait(30)
    counts = [_invariant_holds(c) for c in copies]
    assert all(c >= 200 for c in counts)
    assert counts[-1] < _invariant_holds(database)  # the copies were taken during the writes
    for copy in copies:
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert not Path(f"{copy}-wal").exists()  # one self-contained file
        applied = sqlite_utils.Database(copy)
        assert [m.name for m in migrations.applied(applied)] == [
            m.name for m in migrations.applied(sqlite_utils.Database(database))]


def test_backup_refuses_to_overwrite_the_database(workspace):
    workspace.run("db", "check")
    result = workspace.run("db", "backup", str(workspace.root / "var" / "veille.db"), code=1)
    assert "is the database itself" in result.stderr


def test_check_reports_integrity_and_the_size_of_each_table_and_index(workspace):
    store = Store.open(workspace.root / "var" / "veille.db")
    store.sync_feeds([FeedSource("https://f")])
    store.upsert_entries("https://f", [entry(str(i), "é" * 500) for i in range(500)], NOW)
    store.close()
    report = json.loads(workspace.run("db", "check", "--format", "json").output)
    assert report["ok"] and report["problems"] == []
    assert report["auto_vacuum"] == "incremental"
    objects = {o["name"]: o for o in report["objects"]}
    assert objects["entries"]["type"] == "table" and objects["entries"]["rows"] == 500
    assert objects["entries"]["bytes"] > 500 * 500
    assert objects["entries_first_seen"]["type"] == "index"
    assert objects["entries_first_seen"]["table"] == "entries"
    assert report["objects"][0]["name"] == "entries"  # largest first
    text = workspace.run("db", "check").output
    assert text.startswith("integrity: ok") and "entries_first_seen" in text


def test_check_exits_non_zero_on_a_damaged_file(workspace):
    path = workspace.root / "var" / "veille.db"
    store = Store.open(path)
    store.sync_feeds([FeedSource("https://f")])
    store.upsert_entries("https://f", [entry(str(i), "x" * 300) for i in range(2000)], NOW)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    with path.open("r+b") as f:  # scribble over pages in the middle of the entries table
        f.seek(path.stat().st_size // 2)
        f.write(os.urandom(3 * 4096))
    result = workspace.run("db", "check", code=1)
    assert "Traceback" not in result.output + result.stderr


def test_a_migration_keeps_a_copy_of_the_previous_schema(tmp_path):
    path = tmp_path / "veille.db"
    db = sqlite_utils.Database(path)
    last = migrations._migrations[-1].name
    migrations.apply(db, stop_before=last)  # as the previous release left it
    db.execute("INSERT INTO feeds (url) VALUES ('https://f')")
    db.conn.commit()
    db.conn.close()
    backup = pre_migration_path(path)
    backup.write_bytes(b"an older copy: only the last one is kept")

    store = Store.open(path)
    assert last in [m.name for m in migrations.applied(store.db)]
    store.close()
    assert backup.name == "veille.db.pre-migration.bak"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    old = sqlite_utils.Database(backup)
    assert [m.name for m in migrations.pending(old)] == [last]
    assert [r["url"] for r in old["feeds"].rows] == ["https://f"]
    assert old.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    backup.unlink()
    Store.open(path).close()  # nothing to migrate: no copy
    assert not backup.exists()


def test_a_new_database_makes_no_pre_migration_copy(tmp_path):
    Store.open(tmp_path / "veille.db").close()
    assert not pre_migration_path(tmp_path / "veille.db").exists()


def test_database_and_lock_files_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        store = Store.open(tmp_path / "state" / "veille.db")
        store.set_meta("k", "v")
        lock = DaemonLock(tmp_path / "state" / "veille.db.lock")
        lock.acquire()
        lock.release()
        for name in ("veille.db", "veille.db-wal", "veille.db-shm", "veille.db.lock"):
            assert stat.S_IMODE((tmp_path / "state" / name).stat().st_mode) == 0o600, name
        store.close()
    finally:
        os.umask(old)


def _fill_and_prune(store: Store) -> None:
    store.sync_feeds([FeedSource("https://f")])
    for day in range(4):
        store.upsert_entries("https://f", [entry(f"{day}-{i}", "texte " * 200)
                                           for i in range(300)], NOW + timedelta(days=day))
    store.prune(NOW + timedelta(days=3))  # the first three days go


def _pages(store: Store) -> int:
    return int(store.db.execute("PRAGMA page_count").fetchone()[0])


def test_pages_freed_by_retention_are_given_back(tmp_path):
    store = Store.open(tmp_path / "veille.db")
    _fill_and_prune(store)
    before = _pages(store)
    done = store.reclaim()
    assert not done.converted and done.freed_bytes > 0
    assert _pages(store) < before * 0.4
    assert store.db.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert len(store.entries(limit=1000)) == 300


def test_an_existing_database_is_converted_to_incremental_vacuum_once(tmp_path):
    path = tmp_path / "veille.db"
    db = sqlite_utils.Database(path)  # as earlier releases created it: auto_vacuum none
    migrations.apply(db)
    db.conn.close()
    store = Store.open(path)
    assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    _fill_and_prune(store)
    before = _pages(store)
    done = store.reclaim()
    assert done.converted and done.freed_bytes > 0
    assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert _pages(store) < before * 0.4
    assert len(store.entries(limit=1000)) == 300
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not store.reclaim().converted


def test_a_conversion_that_cannot_run_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "veille.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db)
    db.conn.close()
    store = Store.open(path, timeout=0.2)
    _fill_and_prune(store)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    try:
        done = store.reclaim()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not done.converted and "VACUUM failed" in (done.skipped or "")
    assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    assert len(store.entries(limit=1000)) == 300
    assert store.reclaim().converted  # the next housekeeping converts it
