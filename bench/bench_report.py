"""How big and how slow `veille report` is on a large database: 90 days x 20 watchlists over
1,000,000 stored entries (targets: a file under 2 MB, built in under 5 s).

    python bench/bench_report.py [--entries 1000000] [--watchlists 20] [--days 90]
                                 [--db PATH] [--out report.html]

The database is made directly in SQLite (the ingest path is bench_ingest.py's business):
2,000 feeds, entries spread evenly over the period, 0.1 % of them matched by each watchlist
on average (--match-rate; with 1,000,000 entries: ~2,000 mentions per watchlist, 22 a day),
matched entries grouped into stories (about 3 articles each), and a burst a week before
the end for every fourth watchlist, so spike episodes are replayed too.
--db keeps the database (reused when it exists); --out keeps the report for a look.
Times are wall-clock, first chart included (vl-convert starts its engine on first use).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from veille.config import settings_from_toml
from veille.models import FeedSource
from veille.store import Store, iso
from veille.watchlists import Watchlist

FEEDS = 2000
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def build(path: Path, entries: int, watchlists: int, days: int, rate: float,
          seed: int = 7) -> None:
    rng = random.Random(seed)
    store = Store.open(path)
    urls = [f"https://quotidien{i}.example.fr/rss" for i in range(FEEDS)]
    store.sync_feeds([FeedSource(u, title=f"Le Quotidien n°{i}") for i, u in enumerate(urls)])
    conn = store.db.conn
    start = NOW - timedelta(days=days)
    span = (NOW - start).total_seconds()
    names = [f"marque-{i:02d}" for i in range(watchlists)]
    conn.execute("BEGIN")
    entry_rows, match_rows, story_rows = [], [], []
    story_id = 0
    for i in range(1, entries + 1):
        t = start + timedelta(seconds=rng.random() * span)
        entry_rows.append((i, urls[rng.randrange(FEEDS)], f"k{i}", f"Article {i} sur l’actualité",
                           f"https://ex.fr/{i}", iso(t), f"h{i}", iso(t)))
        for w, name in enumerate(names):
            chance = rate * (1 + w % 3) / 2
            if w % 4 == 0 and NOW - timedelta(days=8) < t < NOW - timedelta(days=7):
                chance *= 12  # a burst: a spike episode to show
            if rng.random() < chance:
                match_rows.append((name, i, iso(t)))
                if rng.random() < 0.3:  # starts a story others copy (see below)
                    story_id += 1
                story_rows.append((i, story_id or 1, iso(t)))
        if len(entry_rows) >= 50_000:
            _flush(conn, entry_rows, match_rows, story_rows)
    _flush(conn, entry_rows, match_rows, story_rows)
    conn.execute("COMMIT")
    store.close()


def _flush(conn, entries, matches, stories) -> None:  # type: ignore[no-untyped-def]
    conn.executemany("INSERT INTO entries (id, feed_url, key, title, link, published, "
                     "content_hash, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", entries)
    conn.executemany("INSERT OR IGNORE INTO matches (watchlist, entry_id, matched_at) "
                     "VALUES (?, ?, ?)", matches)
    conn.executemany("INSERT OR IGNORE INTO entry_stories (entry_id, story_id, at) "
                     "VALUES (?, ?, ?)", stories)
    entries.clear(), matches.clear(), stories.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--watchlists", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--match-rate", type=float, default=0.001,
                        help="share of entries each watchlist matches, on average")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--language", default="fr", choices=["fr", "en"])
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.db or Path(folder.name) / "bench.db"
    if not path.exists():
        t = time.perf_counter()
        build(path, args.entries, args.watchlists, args.days, args.match_rate)
        print(f"database: {args.entries:,} entries, {args.watchlists} watchlists, {args.days} "
              f"days, made in {time.perf_counter() - t:.1f} s ({path.stat().st_size >> 20} MiB)")

    from veille.report import build_report, html_page, report_notice

    settings = settings_from_toml({"database": str(path), "timezone": "Europe/Paris",
                                   "language": args.language}, None)
    store = Store.open(path)
    lists = [Watchlist(f"marque-{i:02d}", "x") for i in range(args.watchlists)]
    since = NOW - timedelta(days=args.days)
    t0, c0 = time.perf_counter(), time.process_time()
    report = build_report(store, lists, settings, since, NOW)
    t1, c1 = time.perf_counter(), time.process_time()
    html = html_page(report)
    t2, c2 = time.perf_counter(), time.process_time()
    notice = report_notice(report)
    t3, c3 = time.perf_counter(), time.process_time()
    size = len(html.encode())
    print(f"report over {args.days} days x {len(lists)} watchlists: {report.mentions:,} "
          f"mentions, {sum(len(w.episodes) for w in report.watchlists)} spike episodes")
    print("  wall-clock (CPU time of this process, SQLite's included)")
    print(f"  numbers (queries, counting, spikes, feed health): {t1 - t0:5.2f} s ({c1 - c0:.2f} s)")
    print(f"  HTML with {len(lists) + 1} SVG charts:                    {t2 - t1:5.2f} s "
          f"({c2 - c1:.2f} s)")
    print(f"  total, as `veille report --out`:                  {t2 - t0:5.2f} s ({c2 - c0:.2f} s)"
          "  target < 5 s")
    print(f"  HTML file: {size / 1e6:.2f} MB (target < 2 MB)")
    email_size = len(notice.html.encode()) + sum(len(p) for _, p in notice.images)
    print(f"  email (HTML + {len(notice.images)} PNG charts): {email_size / 1e6:.2f} MB, built "
          f"in {t3 - t2:.2f} s ({c3 - c2:.2f} s)")
    if args.out:
        args.out.write_text(html, encoding="utf-8")
    store.close()
    return 0 if size < 2e6 and t2 - t0 < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
