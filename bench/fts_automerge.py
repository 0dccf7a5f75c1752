"""The search index's FTS5 `automerge` setting, measured as veille grows the index: batches
of store.search.INDEX_BATCH entries, each in a transaction (a delete then an insert per
entry, as write_index does), then queries that read the first 200 results newest first (as
`veille search` does) and all of them.

    python bench/fts_automerge.py [--entries 200000] [--automerge 4 8 0]

Entries come from bench_match.py's generator, folded as veille folds them. CPU time of the
build; best of 5 (3 for all results) wall times of each query; file size at the end. The
databases go to a temporary folder.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_match import COMMON, entries, vocabulary  # noqa: E402

from veille.folding import fold_parts  # noqa: E402
from veille.normalize import token_text  # noqa: E402
from veille.search import folded_row  # noqa: E402
from veille.store.search import INDEX_BATCH  # noqa: E402

_TABLE = ("CREATE VIRTUAL TABLE entry_search USING fts5(title, body, author, source, category, "
          "tokenize = 'ascii')")
_INSERT = ("INSERT INTO entry_search (rowid, title, body, author, source, category) "
           "VALUES (?, ?, ?, ?, ?, ?)")


def rows(n: int) -> tuple[list[tuple[object, ...]], list[str]]:
    rng = random.Random(1)
    vocab = vocabulary(rng, 20_000)
    names = [w.capitalize() for w in vocabulary(rng, 5_000)]
    out = []
    for i, e in enumerate(entries(rng, vocab, names, n), 1):
        fold = fold_parts(e.title, e.summary_text, e.content_text, e.author, e.link,
                          e.categories, None, None)
        out.append((i, *folded_row(fold, e.feed_url)))
    w = [token_text(x).strip() for x in (COMMON[0], COMMON[5], vocab[0], vocab[100],
                                         vocab[5000], names[0], names[1])]
    queries = [w[0], w[1], f"{w[2]} {w[3]}", f'"{w[0]} {w[1]}"', w[4], f"{w[5][:-1]}*",
               f"{w[5]} OR {w[6]}"]
    return out, queries


def build(path: Path, data: list[tuple[object, ...]], automerge: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(_TABLE)
    db.execute("INSERT INTO entry_search (entry_search, rank) VALUES ('automerge', ?)",
               [automerge])
    start = time.process_time()
    for n in range(0, len(data), INDEX_BATCH):
        batch = data[n:n + INDEX_BATCH]
        db.execute("BEGIN")
        db.executemany("DELETE FROM entry_search WHERE rowid = ?", [(r[0],) for r in batch])
        db.executemany(_INSERT, batch)
        db.execute("COMMIT")
    elapsed = time.process_time() - start
    db.close()
    return elapsed


def best(db: sqlite3.Connection, sql: str, query: str, times: int, first: int | None
         ) -> tuple[float, int]:
    out, found = 9e9, 0
    for _ in range(times):
        start = time.perf_counter()
        cursor = db.execute(sql, [query])
        found = len(cursor.fetchmany(first) if first else cursor.fetchall())
        out = min(out, time.perf_counter() - start)
    return out, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--automerge", type=int, nargs="+", default=[4, 8, 0])
    args = parser.parse_args()
    data, queries = rows(args.entries)
    with tempfile.TemporaryDirectory() as tmp:
        for run, automerge in enumerate(args.automerge):
            path = Path(tmp) / f"{run}-automerge{automerge}.db"
            cpu = build(path, data, automerge)
            size = sum(p.stat().st_size for p in Path(tmp).glob(f"{path.name}*"))
            print(f"automerge={automerge}: {args.entries} entries indexed in {cpu:.2f} s of "
                  f"CPU, {size / 1e6:.0f} MB")
            db = sqlite3.connect(path)
            for q in queries:
                top, _ = best(db, "SELECT rowid FROM entry_search WHERE entry_search MATCH ? "
                              "ORDER BY rowid DESC", q, 5, 200)
                whole, n = best(db, "SELECT rowid FROM entry_search WHERE entry_search "
                                "MATCH ?", q, 3, None)
                print(f"    {q:24} first 200 {top * 1000:7.2f} ms, all {n:>7} "
                      f"{whole * 1000:7.1f} ms")
            db.close()


if __name__ == "__main__":
    main()
