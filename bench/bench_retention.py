"""The database file's size over months under retention, on a simulated clock.

    python bench/bench_retention.py [--feeds 1000] [--per-day 20] [--days 120]

Every simulated day each feed gets `--per-day` new entries (in four polls, one per 6 hours),
rows as the store writes them (every column filled, all indexes), inserted in one transaction
per 6-hour slot (through the store's own path, the run would take hours); after each slot the
daemon's housekeeping runs as it does (prune entries older than `[digest] retention`, PRAGMA
optimize, freed pages given back). The default retention is 90 days, so the file grows for 90
simulated days and must then hold: the report gives the size each week, the steady state (the
mean once retention has run for a week) and the largest deviation from it.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from veille.config import DigestSettings
from veille.models import FeedSource, ParsedEntry
from veille.store import Store, iso

START = datetime(2026, 1, 1, tzinfo=UTC)
SLOTS = 4  # polls, and housekeeping runs, per simulated day (the daemon's is every 6 hours)
WORDS = ("le groupe annonce une hausse des ventes en Europe selon son rapport annuel publié "
         "mardi tandis que les syndicats dénoncent la fermeture d’un site près de Lyon où "
         "œuvrent trois cents salariés depuis vingt ans").split()


COLUMNS = ("feed_url, key, guid, title, link, published, summary_html, summary_text, "
           "categories, content_hash, first_seen, hash_version")


def texts(rng: random.Random, n: int = 500) -> list[tuple[str, str]]:
    """Titles and summaries (about 400 characters, as feeds' summaries go) to draw from."""
    return [(" ".join(rng.choices(WORDS, k=9)).capitalize(), " ".join(rng.choices(WORDS, k=60)))
            for _ in range(n)]


def rows(urls: list[str], per_feed: int, n: int, now: datetime, pool: list[tuple[str, str]],
         rng: random.Random) -> list[tuple[str, ...]]:
    stamp = iso(now)
    out = []
    for feed, url in enumerate(urls):
        for k in range(n, n + per_feed):
            title, text = rng.choice(pool)
            link = f"https://site{feed}.example/{now:%Y/%m/%d}/article-{k}"
            entry = ParsedEntry(key=link, guid=link, title=f"{title} {k}", link=link,
                                author=None, published=now, updated=None,
                                summary_html=f"<p>{text}</p>", summary_text=text,
                                content_html="", content_text="")
            out.append((url, link, link, entry.title, link, stamp, entry.summary_html, text,
                        "[]", entry.content_hash, stamp, "1"))
    return out


def housekeeping(store: Store, now: datetime, retention: float) -> None:
    """What Daemon._housekeeping does, on the simulated clock."""
    store.prune(now - timedelta(seconds=retention))
    store.optimize()
    store.reclaim()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--per-day", type=int, default=20)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--retention-days", type=float,
                    default=DigestSettings().retention / 86400)
    args = ap.parse_args()
    retention = args.retention_days * 86400
    per_slot = max(1, args.per_day // SLOTS)
    rng = random.Random(12)
    pool = texts(rng)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "veille.db"
        store = Store.open(path)
        urls = [f"https://site{i}.example/feed" for i in range(args.feeds)]
        store.sync_feeds([FeedSource(u) for u in urls])
        sizes: list[tuple[int, int]] = []
        print(f"{args.feeds} feeds x {per_slot * SLOTS} entries/day, retention "
              f"{args.retention_days:g} days, {args.days} simulated days")
        print(f"{'day':>5} {'entries':>10} {'file MB':>9}")
        n = 0
        for day in range(args.days):
            for slot in range(SLOTS):
                now = START + timedelta(days=day, hours=slot * 24 / SLOTS)
                batch = rows(urls, per_slot, n, now, pool, rng)
                with store.transaction():
                    store.db.conn.executemany(
                        f"INSERT INTO entries ({COLUMNS}) VALUES ({', '.join('?' * 12)})", batch)
                n += per_slot
                housekeeping(store, now + timedelta(hours=24 / SLOTS - 0.01), retention)
            size = path.stat().st_size
            sizes.append((day + 1, size))
            if (day + 1) % 7 == 0 or day + 1 == args.days:
                count = store.db.execute("SELECT count(*) FROM entries").fetchone()[0]
                print(f"{day + 1:>5} {count:>10} {size / 2**20:>9.1f}", flush=True)
        store.close()
    steady = [s for d, s in sizes if d >= args.retention_days + 7]
    if steady:
        mean = sum(steady) / len(steady)
        worst = max(abs(s - mean) / mean for s in steady)
        print(f"steady state (from day {args.retention_days + 7:g}): {mean / 2**20:.1f} MB, "
              f"largest deviation {worst:.1%} (target < 10%)")
    else:
        print("retention never ran: pass --days beyond --retention-days + 7")
    print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
