"""Ingest throughput with the early-warning work on: entries stored, matched against 1,000
watchlists, matched entries grouped into stories, then the spike detector over every
watchlist; beside the floor of the same work (the entries inserted into SQLite alone) and the
same ingest with story grouping off.

    python bench/bench_ingest.py [--entries 50000] [--watchlists 1000]

Entries come from bench_match.py's generator (French-like text, Zipf words, watched names),
25 per feed as a poll stores them: one read to plan, matching outside the transaction, then
the writes grouped as write_batch.WriteBatch groups them (up to 32 feeds with entries per
transaction, each feed in a savepoint of its own: store.transaction() nested), the search
index built from the backlog every 500 entries, as the pipeline does. The entries are folded
first, apart, as the parser processes do beside the parse. A last run takes them matched and
story-keyed there too, as a first poll's parser pool gives them (prepare.py), with the time
that costs the parser processes beside it. CPU time of this process; the database is a file
in a temporary folder.

The floor inserts the same rows with executemany, one transaction per feed (as it always
has, so that numbers stay comparable over time); the grouped floor does the same with 32
feeds per transaction, as the ingest commits.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_match import NAMES, entries, query, vocabulary  # noqa: E402

from veille.folding import FoldedEntry, FoldedFeed, fold_entry  # noqa: E402
from veille.gc_tuning import tune_gc  # noqa: E402
from veille.match import Matcher, MatchResult, compile_watchlist  # noqa: E402
from veille.models import FeedSource, ParsedEntry, StoredEntry  # noqa: E402
from veille.prepare import Preparation, PreparedFeed, prepare  # noqa: E402
from veille.search import folded_row, folded_text  # noqa: E402
from veille.spike_watch import SpikeWatch  # noqa: E402
from veille.store import Store  # noqa: E402
from veille.store.search import INDEX_BATCH  # noqa: E402
from veille.stories import StoryConfig, StoryIndex  # noqa: E402
from veille.watchlists import Watchlist  # noqa: E402

PER_FEED = 25
#: Feeds with entries per transaction, as write_batch.WriteBatch's `jobs`.
GROUP = 32


def parsed(e: StoredEntry, now: datetime) -> ParsedEntry:
    return ParsedEntry(key=e.key, guid=e.key, title=e.title, link=e.link, author=e.author,
                       published=now, updated=None, summary_html=e.summary_text,
                       summary_text=e.summary_text, content_html=e.content_text,
                       content_text=e.content_text, categories=e.categories)


def feed_urls(n: int) -> list[str]:
    return [f"https://flux{i}.example.org/rss" for i in range(n // PER_FEED + 1)]


def prepared_feeds(batch: list[ParsedEntry], folds: list[FoldedEntry], matcher: Matcher
                   ) -> list[PreparedFeed]:
    """What the parser processes give on a first poll (prepare.py): each feed's entries
    folded, matched, and the matched ones' story keys."""
    preparation = Preparation(matcher, StoryConfig())
    out = []
    for n, url in enumerate(feed_urls(len(batch))):
        part = slice(n * PER_FEED, (n + 1) * PER_FEED)
        feed = FoldedFeed("t", None, None, None, tuple(batch[part]), folded=tuple(folds[part]))
        prepared = prepare(feed, url, preparation)
        assert isinstance(prepared, PreparedFeed)  # no source: terms here
        out.append(prepared)
    return out


def ingest(path: Path, batch: list[ParsedEntry], folds: list[FoldedEntry], matcher: Matcher,
           stories: StoryIndex | None, now: datetime,
           ready: list[PreparedFeed] | None = None) -> tuple[float, int]:
    """The main process's share, as pipeline._ingest does it: the entries come folded from
    the parser processes (folding.py), whose time is measured apart; with `ready`, matched
    and story-keyed there too (prepare.py: the pool's bodies), else matched here (the inline
    lane's)."""
    store = Store.open(path)
    feeds = feed_urls(len(batch))
    store.sync_feeds([FeedSource(u) for u in feeds])
    start = time.process_time()
    matched = 0
    for g in range(0, len(feeds), GROUP):
        prepared = []
        for n, url in enumerate(feeds[g:g + GROUP], start=g):
            part = slice(n * PER_FEED, (n + 1) * PER_FEED)
            plan = store.plan_entries(url, batch[part], now, url, "b", folds[part])
            rows = {i: folded_row(w.folded, url) for i, w in enumerate(plan) if w.folded}
            found = [(i, m) for i, w in enumerate(plan)
                     for m in (ready[n].matches[w.source] if ready else matcher.match(
                         w.change.entry, folded_text(w.change.entry, w.folded, rows[i])))]
            keys = ready[n].story_keys if ready else None
            prepared.append((url, plan, rows, found, keys))
        with store.transaction():  # the batch's transaction (WriteBatch.flush)
            for url, plan, rows, found, keys in prepared:
                with store.transaction():  # each feed's savepoint (WriteBatch._attempt)
                    ids = store.write_entries(url, plan, now)
                    store.remember_index_rows((ids[i], plan[i].values["content_hash"], row)
                                              for i, row in rows.items() if i in ids)
                    matched += store.add_matches(
                        [(MatchResult(m.watchlist, ids[i], m.terms, m.snippet), False)
                         for i, m in found if i in ids], now, [])
                    if stories is not None:
                        store.save_stories(
                            stories.add_entry(plan[i].change.entry, ids[i],
                                              keys[plan[i].source] if keys else None)
                            for i in dict.fromkeys(i for i, _ in found) if i in ids)
        for _ in prepared:  # after the commit, each poll as it resumes
            if store.index_waiting() >= INDEX_BATCH:
                store.index_pending()
    store.index_pending()  # the rest of the backlog, as `veille fetch` does at its end
    elapsed = time.process_time() - start
    store.close()
    return elapsed, matched


def floor(path: Path, batch: list[ParsedEntry], now: datetime, group: int = 1) -> float:
    """The same rows inserted with executemany, nothing else: what SQLite itself costs, with
    `group` feeds per transaction."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE e (k TEXT PRIMARY KEY, title TEXT, link TEXT, summary TEXT, "
               "content TEXT, published TEXT)")
    start = time.process_time()
    step = PER_FEED * group
    for n in range(0, len(batch), step):
        db.execute("BEGIN")
        for f in range(n, min(n + step, len(batch)), PER_FEED):
            db.executemany("INSERT INTO e VALUES (?, ?, ?, ?, ?, ?)",
                           [(e.key, e.title, e.link, e.summary_text, e.content_text,
                             now.isoformat()) for e in batch[f:f + PER_FEED]])
        db.execute("COMMIT")
    elapsed = time.process_time() - start
    db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--watchlists", type=int, default=1000)
    args = parser.parse_args()
    tune_gc()  # as the `veille` command and the daemon run
    rng = random.Random(42)
    vocab = vocabulary(rng, 20_000)
    names = [n.capitalize() + "é" * (i % 3 == 0) for i, n in enumerate(vocabulary(rng, 5_000))
             if n not in vocab][:NAMES]
    now = datetime.now(UTC)
    batch = [parsed(e, now) for e in entries(rng, vocab, names, args.entries)]
    start = time.process_time()
    folds = [fold_entry(e) for e in batch]  # done by the parser processes in veille
    fold_time = time.process_time() - start
    queries = [query(random.Random(i), vocab, names) for i in range(args.watchlists)]
    matcher = Matcher([compile_watchlist(f"w{i}", q) for i, q in enumerate(queries)])
    n = len(batch)
    with tempfile.TemporaryDirectory() as tmp:
        base = floor(Path(tmp) / "floor.db", batch, now)
        grouped = floor(Path(tmp) / "grouped.db", batch, now, GROUP)
        off, _ = ingest(Path(tmp) / "off.db", batch, folds, matcher, None, now)
        on, matched = ingest(Path(tmp) / "on.db", batch, folds, matcher, StoryIndex(StoryConfig()),
                             now)
        start = time.process_time()
        ready = prepared_feeds(batch, folds, matcher)
        prepare_time = time.process_time() - start
        pooled, _ = ingest(Path(tmp) / "pooled.db", batch, folds, matcher,
                           StoryIndex(StoryConfig()), now, ready)
        store = Store.open(Path(tmp) / "on.db")
        lists = [Watchlist(f"w{i}", q) for i, q in enumerate(queries)]
        spikes = SpikeWatch(store, None, lambda: now)  # type: ignore[arg-type]
        start = time.process_time()
        spikes.check(lists)
        spike_time = time.process_time() - start
        store.close()
    print(f"{n} entries, {args.watchlists} watchlists, {matched} matches "
          f"({matched / n:.2f} per entry); CPU time, one process")
    print(f"  floor (SQLite inserts only)      {n / base:>9,.0f} entries/s")
    print(f"  floor, {GROUP} feeds per commit      {n / grouped:>9,.0f} entries/s")
    print(f"  ingest, stories off              {n / off:>9,.0f} entries/s  "
          f"({off / base:.1f}x the floor)")
    print(f"  ingest, stories on               {n / on:>9,.0f} entries/s  "
          f"({on / base:.1f}x the floor; stories cost {100 * (on - off) / off:.0f} %)")
    print(f"  ingest, stories on, matched and  {n / pooled:>9,.0f} entries/s  "
          f"({pooled / base:.1f}x the floor)")
    print("    story-keyed in the parser processes (a first poll's pool)")
    print(f"  folding, in the parser processes {n / fold_time:>9,.0f} entries/s")
    print(f"  matching and story keys, there   {n / prepare_time:>9,.0f} entries/s")
    print(f"  spike check, {args.watchlists} watchlists     {spike_time * 1000:>9,.0f} ms")


if __name__ == "__main__":
    main()
