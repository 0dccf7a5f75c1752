"""Memory of veille over 10,000 local feeds: `veille fetch`, and the daemon over 24 rounds.

    python bench/bench_memory.py                      # both parts (about 15 minutes)
    python bench/bench_memory.py --rounds 0           # `veille fetch` only
    python bench/bench_memory.py --no-fetch --rounds 24 --interval 30

The issue's targets: `veille fetch` of 10,000 feeds at most 150 MB peak RSS, all processes
counted (each process's RSS counts the pages it shares with others, the shared libraries,
once per process; PSS, which shares them out, is printed beside it), and a daemon whose RSS grows by
at most 10 % over 24 polling rounds.

(a) `veille fetch` against a fresh farm of `--feeds` feeds on 50 loopback hosts
(bench/feed_farm.py), measured with all its children by bench/proctree.py: a first poll
(every feed new) and a pass where nothing changed (304s). Whether the first poll starts
parser workers depends on the machine: on an idle one the bodies stream in faster than the
inline lane's threshold (parse_route.py), on a busy one they may not. `--pool` makes sure
it does (the threshold set to 0 in that process: the first body starts a worker), to
measure the larger case.

(b) `veille run` as a subprocess, against a fresh farm and database, with `interval` set to
`--interval` seconds (a bench-only config: min interval is the interval itself, and the farm
sends no Cache-Control or <ttl> to stretch it). Before each round `--change` % of the feeds
gain entries, so a round parses a few bodies as a daemon's rounds do. A round ends when
every feed has been polled since it began (read from the database, read-only); the tree's
RSS and PSS are sampled then. The first round is the first poll; growth is measured from
the end of round 1 to the end of the last.
This is a benchmark, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_fetch import WATCHLISTS
from bench_peers import Farm
from proctree import _pss, _tree, run

HERE = Path(__file__).resolve().parent
VEILLE = str(Path(sys.executable).with_name("veille"))
TARGET_MB = 150.0
GROWTH = 0.10


def write_config(root: Path, farm: Farm, per_host: int, interval: float | None = None) -> Path:
    (root / "watchlists.toml").write_text(WATCHLISTS)
    fetch = f'[fetch]\ntimeout = "60s"\nper_host = {per_host}\n'
    if interval is not None:
        fetch += f'interval = "{interval:g}s"\n'
    config = root / "veille.toml"
    config.write_text(f'database = "v.db"\nfeeds = "{farm.opml}"\n{fetch}')
    return config


#: `veille` with the steady-stream threshold at 0: workers parse from the first body on
POOLED = ("import sys; import veille.parse_route as r; r.INLINE_RATE_BYTES = -1; "
          "from veille.cli import main; sys.argv[0] = 'veille'; main()")


def fetch_passes(feeds: int, per_host: int, pool: bool) -> None:
    how = "workers from the first body" if pool else "workers as the load decides"
    print(f"\n== veille fetch, {feeds} feeds on 50 hosts ({how})", flush=True)
    veille = [sys.executable, "-c", POOLED] if pool else [VEILLE]
    with tempfile.TemporaryDirectory() as tmp, Farm(Path(tmp), feeds, 50, 0) as farm:
        config = write_config(Path(tmp), farm, per_host)
        for label in ("first poll", "nothing changed"):
            m = run([*veille, "--config", str(config), "fetch"])
            if m.returncode != 0:
                sys.exit(f"veille fetch failed ({m.returncode}): {m.stdout[-500:]}")
            verdict = "ok" if m.peak_rss_mb <= TARGET_MB else f"over {TARGET_MB:g} MB"
            print(f"  {label:16} {m.wall:6.1f} s wall, {m.cpu:6.1f} s CPU, peak RSS (summed) "
                  f"{m.peak_rss_mb:4.0f} MB [{verdict}], peak PSS {m.peak_pss_mb:4.0f} MB",
                  flush=True)


def tree_memory(pid: int) -> tuple[float, float, int]:
    """(RSS MB summed, PSS MB summed, processes) of `pid` and its descendants."""
    tree = _tree(pid)
    rss = sum(r for _, r in tree.values())
    pss = sum(_pss(p) for p in tree)
    return rss / 2**20, pss / 2**20, len(tree)


def polled_since(db: Path, since: str) -> int:
    """Feeds whose last fetch is at or after `since` (ISO, as the store writes it)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM feeds WHERE last_fetch >= ?",
                                (since,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def utc_iso() -> str:
    """Now in the store's format (store/rows.py iso: string order is time order)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def daemon_rounds(feeds: int, per_host: int, rounds: int, interval: float,
                  change: float) -> None:
    print(f"\n== veille run, {feeds} feeds on 50 hosts, {rounds} rounds, interval "
          f"{interval:g} s, {change:g} % changed per round", flush=True)
    with tempfile.TemporaryDirectory() as tmp, Farm(Path(tmp), feeds, 50, 0) as farm:
        root = Path(tmp)
        config = write_config(root, farm, per_host, interval)
        db = root / "v.db"
        log = (root / "daemon.log").open("w")
        daemon = subprocess.Popen([VEILLE, "--config", str(config), "run"], stdout=log,
                                  stderr=subprocess.STDOUT, cwd=root)
        samples: list[tuple[float, float]] = []
        try:
            for r in range(1, rounds + 1):
                began, started = utc_iso(), time.monotonic()
                if r > 1 and change:
                    farm.change(change)
                while polled_since(db, began) < feeds:
                    if daemon.poll() is not None:
                        sys.exit(f"the daemon exited ({daemon.returncode}): "
                                 f"{(root / 'daemon.log').read_text()[-800:]}")
                    time.sleep(0.5)
                rss, pss, procs = tree_memory(daemon.pid)
                samples.append((rss, pss))
                print(f"  round {r:2}: {time.monotonic() - started:5.1f} s, RSS {rss:5.1f} MB "
                      f"({procs} processes), PSS {pss:5.1f} MB", flush=True)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
            log.close()
    if len(samples) >= 2:
        first, last = samples[0][0], samples[-1][0]
        growth = (last - first) / first
        verdict = "within" if growth <= GROWTH else "over"
        print(f"  RSS round 1 → {len(samples)}: {first:.1f} → {last:.1f} MB "
              f"({growth:+.1%}, {verdict} {GROWTH:.0%}); max {max(s[0] for s in samples):.1f} MB",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10000)
    parser.add_argument("--per-host", type=int, default=50)
    parser.add_argument("--no-fetch", dest="fetch", action="store_false")
    parser.add_argument("--pool", action="store_true",
                        help="`veille fetch` with parser workers from the first body")
    parser.add_argument("--rounds", type=int, default=24, help="daemon rounds (0: skip)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds")
    parser.add_argument("--change", type=float, default=1.0, help="%% of feeds per round")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.fetch:
        fetch_passes(args.feeds, args.per_host, args.pool)
    if args.rounds:
        daemon_rounds(args.feeds, args.per_host, args.rounds, args.interval, args.change)


if __name__ == "__main__":
    main()
