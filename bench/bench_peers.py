"""veille beside lemon24/reader on one generated corpus, with the floors, in one run.

    python bench/bench_peers.py                        # the whole matrix (long)
    python bench/bench_peers.py --hosts 20 --latency 0 --memory-feeds 0   # one scenario

For each scenario (feeds on `--hosts` loopback hosts, answering after `--latency` ms), both
tools run three passes against their own fresh feed farm (bench/feed_farm.py): a first poll,
a pass where nothing changed (the farm answers 304 to their validators) and a pass where 10 %
of the feeds gained 1-3 entries. Each pass is a separate process measured with all its
children (bench/proctree.py): wall, CPU, peak RSS summed over processes.

reader (the registry's latest) runs through its Python API with `update_feeds(workers=16)`
in a virtualenv of its own, bench/.venv-reader, created on first use; the floors (raw
aiohttp and httpx fetches, an lxml walk, SQLite inserts: bench/floors.py) run there too.
veille runs `veille fetch` with default settings except `per_host` (50, standing in for a
list spread over many hosts).

Then `--memory-feeds` feeds (10,000) on 50 hosts, veille only: first poll and unchanged pass,
for peak RSS and the CPU an unchanged feed costs.
This is a benchmark, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import compileall
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench_fetch import WATCHLISTS  # the same two watchlists as the fetch bench
from proctree import Measure, run

import veille

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-reader"
PEERS_PY = VENV / "bin" / "python"
PASSES = ("first poll", "nothing changed", "10 % changed")


def ensure_venv() -> bool:
    """The bench virtualenv with reader (its vendored feedparser imports sgmllib), aiohttp,
    httpx and lxml; False if it cannot be made."""
    if PEERS_PY.exists():
        return True
    print(f"creating {VENV} (reader, sgmllib3k, aiohttp, httpx, lxml from the registry)…", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PEERS_PY), "-m", "pip", "install", "-q", "reader", "sgmllib3k", "aiohttp",
                        "httpx", "lxml"], check=True)
    except subprocess.CalledProcessError as e:
        print(f"cannot build the bench virtualenv ({e}): reader and floors skipped")
        return False
    return True


class Farm:
    def __init__(self, root: Path, feeds: int, hosts: int, latency: float) -> None:
        self.opml = root / "feeds.opml"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "feed_farm.py"), "--feeds", str(feeds), "--hosts",
             str(hosts), "--latency", str(latency), "--opml", str(self.opml)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def change(self, percent: float) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"change {percent}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def _check(m: Measure, what: str) -> Measure:
    if m.returncode != 0:
        sys.exit(f"{what} failed (exit {m.returncode}): {m.stdout[-500:]}")
    return m


def veille_passes(root: Path, farm: Farm, args: argparse.Namespace,
                  passes: int = 3) -> list[Measure]:
    (root / "watchlists.toml").write_text(WATCHLISTS)
    fetch = f'[fetch]\ntimeout = "60s"\nper_host = {args.per_host}\n'
    if args.concurrency:
        fetch += f"concurrency = {args.concurrency}\n"
    (root / "veille.toml").write_text(f'database = "v.db"\nfeeds = "{farm.opml}"\n{fetch}')
    cmd = [str(Path(sys.executable).with_name("veille")), "--config", str(root / "veille.toml"),
           "fetch"]
    results = []
    for i in range(passes):
        if i == 2:
            farm.change(10)
        results.append(_check(run(cmd), f"veille {PASSES[i]}"))
    return results


def veille_startup(root: Path) -> Measure:
    """`veille fetch` with no feed (on a database that exists): what a pass pays whatever its
    feeds (interpreter, imports, opening the store), apart from the cost of each feed."""
    (root / "empty.opml").write_text('<opml version="2.0"><body/></opml>')
    (root / "empty.toml").write_text('database = "empty.db"\nfeeds = "empty.opml"\n')
    cmd = [str(Path(sys.executable).with_name("veille")), "--config", str(root / "empty.toml"),
           "fetch"]
    _check(run(cmd), "veille start-up")
    return min((_check(run(cmd), "veille start-up") for _ in range(3)), key=lambda m: m.cpu)


def reader_passes(root: Path, farm: Farm) -> list[Measure]:
    db = str(root / "reader.sqlite")
    driver = [str(PEERS_PY), str(HERE / "reader_driver.py"), db, str(farm.opml)]
    _check(run([*driver, "add"]), "reader add")
    results = []
    for i in range(3):
        if i == 2:
            farm.change(10)
        results.append(_check(run([*driver, "update"]), f"reader {PASSES[i]}"))
    return results


def floors(farm: Farm, in_flight: int) -> dict[str, dict[str, float]]:
    out = subprocess.run([str(PEERS_PY), str(HERE / "floors.py"), str(farm.opml),
                          "--in-flight", str(in_flight)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


@dataclass
class Row:
    scenario: str
    label: str
    veille: Measure
    reader: Measure | None


def fmt(m: Measure | None) -> str:
    return "—" if m is None else f"{m.wall:6.2f} s ({m.cpu:6.2f} s) {m.peak_rss_mb:5.0f} MB"


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.1f}×" if b > 0 else "—"


def scenario(args: argparse.Namespace, hosts: int, latency: float, peers: bool) -> list[Row]:
    name = f"{args.feeds} feeds, {hosts} host{'s' if hosts > 1 else ''}, {latency:g} ms"
    print(f"\n== {name}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Farm(root, args.feeds, hosts, latency) as farm:
            mine = veille_passes(root, farm, args)
        theirs: list[Measure | None] = [None] * 3
        if peers and args.reader:
            with Farm(root, args.feeds, hosts, latency) as farm:
                theirs = list(reader_passes(root, farm))
        rows = [Row(name, label, v, r) for label, v, r in zip(PASSES, mine, theirs, strict=True)]
        for row in rows:
            print(f"  {row.label:16} veille {fmt(row.veille)} | reader {fmt(row.reader)}",
                  flush=True)
        if peers and args.floors:
            with Farm(root, args.feeds, hosts, latency) as farm:
                found = floors(farm, args.concurrency or 32)
            fetch = min(f["wall"] for k, f in found.items() if k.startswith("fetch"))
            total = fetch + found["parse_lxml"]["wall"] + found["insert_sqlite"]["wall"]
            print("  floors: " + ", ".join(f"{k} {v['wall']:.2f} s ({v['cpu']:.2f} s)"
                                           for k, v in found.items()))
            print(f"  first poll ÷ sum of floors ({total:.2f} s): "
                  f"{mine[0].wall / total:.1f}×", flush=True)
    return rows


def memory(args: argparse.Namespace) -> None:
    feeds = args.memory_feeds
    print(f"\n== {feeds} feeds, 50 hosts, 0 ms (veille only, memory)", flush=True)
    with tempfile.TemporaryDirectory() as tmp, Farm(Path(tmp), feeds, 50, 0) as farm:
        first, unchanged = veille_passes(Path(tmp), farm, args, passes=2)
    for label, m in (("first poll", first), ("nothing changed", unchanged)):
        print(f"  {label:16} veille {fmt(m)}, peak PSS {m.peak_pss_mb:.0f} MB")
    print(f"  CPU per unchanged feed: {unchanged.cpu / feeds * 1000:.2f} ms (start-up included)")
    with tempfile.TemporaryDirectory() as tmp:
        startup = veille_startup(Path(tmp))
    print(f"  start-up (no feed): {startup.wall:.2f} s ({startup.cpu:.2f} s CPU); beyond it, "
          f"{(unchanged.cpu - startup.cpu) / feeds * 1000:.2f} ms of CPU per unchanged feed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", default="1,20",
                        help="comma-separated host counts ('' for the memory run alone)")
    parser.add_argument("--latency", default="0,50", help="comma-separated latencies in ms")
    parser.add_argument("--per-host", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=0, help="0: veille's default")
    parser.add_argument("--memory-feeds", type=int, default=10000, help="0: skip")
    parser.add_argument("--no-reader", dest="reader", action="store_false")
    parser.add_argument("--no-floors", dest="floors", action="store_false")
    args = parser.parse_args()
    peers = ensure_venv()
    # byte-compiled, as pip leaves an installed package (reader's is): an editable install
    # under PYTHONDONTWRITEBYTECODE would compile veille's sources again at every start
    compileall.compile_dir(str(Path(veille.__file__).parent), quiet=1)
    rows = [row for hosts in (int(h) for h in args.hosts.split(",") if h)
            for latency in (float(ms) for ms in args.latency.split(",") if ms)
            for row in scenario(args, hosts, latency, peers)]
    if rows:
        table(rows, args.feeds)
    if args.memory_feeds:
        memory(args)


def table(rows: list[Row], feeds: int) -> None:
    print("\n| scenario | pass | reader wall (CPU) RSS | veille wall (CPU) RSS | wall ÷ | CPU ÷ |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.scenario} | {r.label} | {fmt(r.reader)} | {fmt(r.veille)} | "
              f"{ratio(r.reader.wall, r.veille.wall) if r.reader else '—'} | "
              f"{ratio(r.reader.cpu, r.veille.cpu) if r.reader else '—'} |")
    unchanged = [r.veille for r in rows if r.label == PASSES[1]]
    if unchanged:
        with tempfile.TemporaryDirectory() as tmp:
            startup = veille_startup(Path(tmp))
        best = min(m.cpu for m in unchanged)
        print(f"\nveille CPU per unchanged feed: {best / feeds * 1000:.2f} ms start-up "
              f"included; {(best - startup.cpu) / feeds * 1000:.2f} ms beyond the start-up "
              f"of a pass with no feed ({startup.cpu:.2f} s CPU, {startup.wall:.2f} s wall)")


if __name__ == "__main__":
    main()
