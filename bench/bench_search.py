"""`veille search` on a large history: query latency, what the index costs on disk, and what it
costs at ingest.

    python bench/bench_search.py [--entries 1000000] [--pool 20000] [--ingest 20000] [--db PATH]

1. Builds a database of --entries stored entries (2,000 feeds, published over a year) with
   executemany. Texts come from bench_match.py's generator (French-like words with Zipf
   frequencies and watched names); to build a million quickly, each entry combines the title,
   summary and content of three entries of a pool of --pool generated ones.
2. Times searches (compile + FTS5 prefilter + exact matcher, --limit 50, command start-up and
   printing excluded): the median of 5 runs after one warm-up, and the first (cold) run.
3. Reports the index's share of the file (dbstat).
4. Ingests --ingest entries as pipeline.py does (plan and match outside the lock, one
   transaction per feed of 25; 100 watchlists) with the index, then with it patched out.
5. Times the migration that indexes an existing database (--migration entries).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_match import COMMON, NAMES, entries, query, vocabulary  # noqa: E402

import veille.store.entries as store_entries  # noqa: E402
from veille.match import Matcher, compile_watchlist  # noqa: E402
from veille.models import FeedSource, ParsedEntry, StoredEntry  # noqa: E402
from veille.normalize import token_text  # noqa: E402
from veille.search import index_row, search  # noqa: E402
from veille.store import Store, iso  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEEDS = 2_000


def feed_url(i: int) -> str:
    return f"https://www.journal{i}.fr/rss"


def build(path: Path, total: int, pool: list[StoredEntry], rng: random.Random) -> float:
    """The history, in chunks of 10,000 entries and their index rows; returns seconds."""
    store = Store.open(path)
    store.sync_feeds([FeedSource(feed_url(i), f"Journal {i}") for i in range(FEEDS)])
    titles = [token_text(e.title) for e in pool]
    summaries = [token_text(e.summary_text) for e in pool]
    contents = [token_text(e.content_text) for e in pool]
    sources = [index_row("", "", "", None, None, feed_url(i), ())[3] for i in range(FEEDS)]
    author, category = token_text("A. Auteur"), token_text("Politique")
    size = len(pool)
    conn = store.db.conn
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: FTS5 merges its segments in cache
    start = time.perf_counter()
    for chunk in range(0, total, 10_000):
        rows, index = [], []
        for i in range(chunk, min(total, chunk + 10_000)):
            t, s, c = rng.randrange(size), rng.randrange(size), rng.randrange(size)
            published = NOW - timedelta(seconds=rng.randrange(365 * 86400))
            feed = i % FEEDS
            rows.append((i + 1, feed_url(feed), str(i), pool[t].title, f"https://ex.fr/{i}",
                         "A. Auteur", iso(published), pool[s].summary_text,
                         pool[c].content_text, '["Politique"]', "h",
                         iso(published + timedelta(minutes=rng.randrange(90)))))
            index.append((i + 1, titles[t], summaries[s] + contents[c], author, sources[feed],
                          category))
        with store.transaction():
            conn.executemany(
                "INSERT INTO entries (id, feed_url, key, title, link, author, published, "
                "summary_text, content_text, categories, content_hash, first_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO entry_search (rowid, title, body, author, source, "
                             "category) VALUES (?, ?, ?, ?, ?, ?)", index)
        print(f"\r  {min(total, chunk + 10_000):,} entries", end="", file=sys.stderr)
    print(file=sys.stderr)
    elapsed = time.perf_counter() - start
    store.db.execute("PRAGMA optimize")
    store.close()
    return elapsed


def disk(path: Path) -> None:
    store = Store.open(path)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = dict(store.db.execute(
        "SELECT CASE WHEN name LIKE 'entry_search%' THEN 'index' ELSE 'rest' END, sum(pgsize) "
        "FROM dbstat GROUP BY 1").fetchall())
    entries_n = store.db.execute("SELECT count(*) FROM entries").fetchone()[0]
    total = path.stat().st_size
    print(f"database file: {total / 2**20:,.0f} MiB for {entries_n:,} entries; search index "
          f"{sizes.get('index', 0) / 2**20:,.0f} MiB "
          f"({sizes.get('index', 0) / total:.0%} of the file, "
          f"{sizes.get('index', 0) / entries_n:,.0f} bytes per entry)")
    store.close()


def time_queries(path: Path, queries: list[str]) -> None:
    store = Store.open(path)
    for q in queries:
        compiled = compile_watchlist("bench", q)
        runs = []
        for _ in range(6):
            start = time.perf_counter()
            result = search(store, compiled, now=NOW, limit=50)
            runs.append(time.perf_counter() - start)
        print(f"  {q!r:38} {statistics.median(runs[1:]) * 1000:7.1f} ms median "
              f"(first run {runs[0] * 1000:6.1f} ms), {result.examined:,} examined, "
              f"{len(result.matches)} found")
    store.close()


def parsed(e: StoredEntry, key: str) -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=e.title, link=e.link, author=e.author,
                       published=NOW, updated=None, summary_html=e.summary_text,
                       summary_text=e.summary_text, content_html=e.content_text,
                       content_text=e.content_text, categories=e.categories)


def ingest(path: Path, items: list[ParsedEntry], matcher: Matcher) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to plan, match and write `items` as pipeline.py does, one
    transaction per feed of 25, then index the backlog as the daemon does."""
    store = Store.open(path)
    feeds = [f"https://flux{i}.example.org/rss" for i in range(len(items) // 25 + 1)]
    store.sync_feeds([FeedSource(u) for u in feeds])
    cpu, wall = time.process_time(), time.perf_counter()
    for n, url in enumerate(feeds):
        plan = store.plan_entries(url, items[n * 25:(n + 1) * 25], NOW, url, "b")
        found = [(i, m) for i, w in enumerate(plan)
                 for m in matcher.match(w.change.entry)]
        with store.transaction():
            ids = store.write_entries(url, plan, NOW)
            store.add_matches([(replace(m, entry_id=ids[i]), False) for i, m in found
                               if i in ids], NOW)
    store.index_pending()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    store.close()
    return cpu, wall


def ingest_cost(folder: Path, pool: list[StoredEntry], count: int, matcher: Matcher) -> None:
    items = [parsed(pool[i % len(pool)], str(i)) for i in range(count)]
    with_index = ingest(folder / "with.db", items, matcher)
    saved = store_entries.queue_for_index
    store_entries.queue_for_index = lambda conn, ids: None  # type: ignore[assignment]
    try:
        without = ingest(folder / "without.db", items, matcher)
    finally:
        store_entries.queue_for_index = saved
    for label, (cpu, wall) in (("with the index", with_index), ("without", without)):
        print(f"  {label:15} {count / cpu:8,.0f} entries/s CPU, {cpu / count * 1e6:6.0f} µs "
              f"per entry ({count / wall:,.0f} entries/s wall)")
    print(f"  the index adds {(with_index[0] - without[0]) / count * 1e6:.0f} µs of CPU per "
          f"entry ({with_index[0] / without[0] - 1:+.0%})")
    for name in ("with.db", "without.db"):
        (folder / name).unlink()


def migration(folder: Path, count: int, pool: list[StoredEntry], rng: random.Random) -> None:
    """m007_search_index on a database of `count` entries that has no index yet."""
    path = folder / "migrate.db"
    build(path, count, pool, rng)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER entries_search_delete")
    conn.execute("DROP TABLE entry_search")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm007_search_index'")
    conn.commit()
    conn.close()
    cpu, wall = time.process_time(), time.perf_counter()
    Store.open(path).close()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"  m007_search_index on {count:,} entries: {wall:.1f} s ({cpu:.1f} s CPU, "
          f"{cpu / count * 1e6:.0f} µs per entry)")
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--pool", type=int, default=20_000)
    parser.add_argument("--ingest", type=int, default=20_000)
    parser.add_argument("--db", type=Path, help="keep the database here (reused if it exists)")
    parser.add_argument("--migration", type=int, default=50_000,
                        help="entries to index by the migration (0: skip)")
    args = parser.parse_args()
    rng = random.Random(7)
    vocab = vocabulary(rng, 20_000)
    names = [n.capitalize() + "é" * (i % 3 == 0) for i, n in enumerate(vocabulary(rng, 5_000))
             if n not in vocab][:NAMES]
    pool = entries(rng, vocab, names, args.pool)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "veille.db"
        if not path.exists():
            seconds = build(path, args.entries, pool, rng)
            print(f"built {args.entries:,} entries in {seconds:.0f} s "
                  f"({args.entries / seconds:,.0f} entries/s, index rows included)")
        disk(path)
        mentioned = [n for n in names if any(n in e.title or n in e.summary_text for e in pool)]
        name, other = mentioned[0], mentioned[1]
        queries = [f"{name} {COMMON[20]}", f"{name} {vocab[3]}", f"{other} -{vocab[0]}",
                   f'"{name}" OR {other}', f"{name[:-2]}* {COMMON[22]}",
                   f"{COMMON[20]} {COMMON[21]}", f"{vocab[5]} {vocab[9]}",
                   f"{name} /{name[:3]}/"]
        print("searches on", json.dumps(path.name), "(limit 50):")
        time_queries(path, queries)
        matcher = Matcher([compile_watchlist(f"w{i}", query(rng, vocab, names))
                           for i in range(100)])
        print(f"ingest of {args.ingest:,} entries, matched against 100 watchlists, "
              f"25 per transaction:")
        ingest_cost(Path(tmp), pool, args.ingest, matcher)
        if args.migration:
            print("indexing an existing database:")
            migration(Path(tmp), args.migration, pool, rng)


if __name__ == "__main__":
    main()
