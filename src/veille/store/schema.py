"""The schema, as sqlite-utils migrations: add a migration, never edit one that has shipped."""

from __future__ import annotations

import json

import sqlite_utils
from sqlite_utils.migrations import Migrations

from ..search import index_row

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




@migrations()
def m003_hash_versions(db: sqlite_utils.Database) -> None:
    """Which parser made an entry's content hash, and how many updates came from the hash alone:
    a parser upgrade must not make old entries news again, nor may a feed that re-renders each
    entry on every fetch rewrite it forever. Rows from before are of an unknown parser (NULL)."""
    db.execute("ALTER TABLE entries ADD COLUMN hash_version TEXT")
    db.execute("ALTER TABLE entries ADD COLUMN hash_updates INTEGER NOT NULL DEFAULT 0")


@migrations()
def m004_notices(db: sqlite_utils.Database) -> None:
    """Alerts that are not digests (spikes, feed health), queued per channel like digests."""
    _execute_all(db, """
    CREATE TABLE notices (
        id TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt TEXT,
        last_error TEXT,
        claimed_until TEXT,
        PRIMARY KEY (id, channel)
    );
    CREATE INDEX notices_pending ON notices (channel, delivered_at);
    """)


@migrations()
def m005_feed_health(db: sqlite_utils.Database) -> None:
    """The health state last notified per feed, so the daemon sends one alert when a feed
    enters a state and one when it recovers (never one per poll, nor again after a restart);
    and an index that gives each feed's latest entries in one query (staleness)."""
    _execute_all(db, """
    CREATE TABLE feed_health (
        feed_url TEXT PRIMARY KEY REFERENCES feeds(url) ON DELETE CASCADE,
        state TEXT NOT NULL,
        since TEXT,
        notified_at TEXT NOT NULL,
        advertised TEXT
    );
    CREATE INDEX entries_feed_published ON entries (feed_url, published, first_seen);
    """)


@migrations()
def m006_stories_and_spikes(db: sqlite_utils.Database) -> None:
    """The story each matched entry belongs to (and what rebuilds the story index after a
    restart), and each watchlist's spike detector state."""
    _execute_all(db, """
    CREATE TABLE entry_stories (
        entry_id INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
        story_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        link TEXT NOT NULL DEFAULT '',
        signature BLOB NOT NULL DEFAULT x''
    );
    CREATE INDEX entry_stories_story ON entry_stories (story_id);
    CREATE INDEX entry_stories_at ON entry_stories (at);
    CREATE TABLE spike_states (
        watchlist TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """)


@migrations()
def m008_entry_outlet(db: sqlite_utils.Database) -> None:
    """The outlet an aggregator credits an entry to (Google News' <source>), so `source:`
    queries, digests and webhooks name Le Monde rather than the aggregator's feed."""
    db.execute("ALTER TABLE entries ADD COLUMN outlet TEXT")
    db.execute("ALTER TABLE entries ADD COLUMN outlet_url TEXT")


@migrations()
def m009_websub(db: sqlite_utils.Database) -> None:
    """WebSub: the hub each feed advertises, and our subscription to it (websub.py)."""
    _execute_all(db, """
    CREATE TABLE websub (
        feed_url TEXT PRIMARY KEY,
        hub TEXT NOT NULL,
        topic TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE,
        secret TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'discovered',
        lease_seconds INTEGER,
        expires_at TEXT,
        requested_at TEXT,
        next_attempt TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_push TEXT,
        pushes INTEGER NOT NULL DEFAULT 0
    );
    """)


@migrations()
def m007_search_index(db: sqlite_utils.Database) -> None:
    """The FTS5 index behind `veille search`, `watch test` and `watch backfill` (search.py):
    veille's folded words per matcher scope, tokenized by `ascii` (which splits on ASCII
    spaces only, as the folded text needs). Deleting an entry deletes its row (retention).
    Existing entries are indexed here, in batches. It comes after m008 and m009 so that the
    outlets m008 stores (which `source:` finds) are there to be indexed."""
    db.execute("CREATE VIRTUAL TABLE entry_search USING fts5("
               "title, body, author, source, category, tokenize = 'ascii')")
    db.execute("CREATE TRIGGER entries_search_delete AFTER DELETE ON entries BEGIN "
               "DELETE FROM entry_search WHERE rowid = old.id; END")
    # FTS5 merges its segments through the page cache: the default 2 MB makes a large
    # database's first indexing several times slower
    cache = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute("PRAGMA cache_size = -131072")
    try:
        _index_entries(db)
    finally:
        db.execute(f"PRAGMA cache_size = {int(cache)}")


def _index_entries(db: sqlite_utils.Database) -> None:
    last = 0
    while True:
        rows = db.execute(
            "SELECT id, title, summary_text, content_text, author, link, feed_url, categories, "
            "outlet, outlet_url FROM entries WHERE id > ? ORDER BY id LIMIT 2000",
            [last]).fetchall()
        if not rows:
            return
        db.conn.executemany(
            "INSERT INTO entry_search (rowid, title, body, author, source, category) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(r[0], *index_row(r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8],
                               r[9]))
             for r in rows])
        last = rows[-1][0]


@migrations()
def m010_search_backlog(db: sqlite_utils.Database) -> None:
    """Entries written but not yet in the search index (store/search.py): indexing them in
    batches of hundreds, outside the feed's transaction, costs about half as much per entry
    as a few rows in every feed's transaction (FTS5 flushes a segment at each commit)."""
    db.execute("CREATE TABLE search_pending (entry_id INTEGER PRIMARY KEY)")


@migrations()
def m011_entry_fingerprints(db: sqlite_utils.Database) -> None:
    """Each entry's raw item fingerprint (entry_fingerprint.py): the next parse of its feed
    leaves the items it finds here unread. Existing entries get theirs at the next change of
    their feed."""
    db.execute("ALTER TABLE entries ADD COLUMN fingerprint TEXT")


#: FTS5's `automerge` for the search index (its default is 4). See m012.
SEARCH_AUTOMERGE = 8


@migrations()
def m012_search_automerge(db: sqlite_utils.Database) -> None:
    """The search index merges its segments 8 at a time rather than 4: an index grown 500
    entries a commit, as veille grows it, does a sixth to a third less work for the same size
    and query speed (200,000 entries in batches of 500: 19.4-23.4 s of CPU against
    23.3-29.6 s, three runs each, about 400 MB either way, the queries of
    bench/fts_automerge.py within the noise). 0 or 16 merge less
    still, but leave unmerged segments behind: the file grows by 40 %. The setting is kept
    in the index itself."""
    db.execute("INSERT INTO entry_search (entry_search, rank) VALUES ('automerge', ?)",
               [SEARCH_AUTOMERGE])
