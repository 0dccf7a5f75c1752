"""Wall time and peak memory of `veille fetch` over 1,000 local feeds of 25 entries.

    python bench/bench_fetch.py [--feeds 1000] [--hosts 20]

Runs the real CLI in a subprocess under /usr/bin/time -v against bench/feed_farm.py, twice:
a first pass (everything new: download, parse, store, match) and a second (unchanged feeds).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WATCHLISTS = """
[[watchlist]]
name = "parti-pirate"
query = '"parti pirate" -"pirate bay"'
[[watchlist]]
name = "nestle"
query = "nestlé OR l'oréal"
"""


def timed(cmd: list[str]) -> tuple[float, int, str]:
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr)[1]
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1])
    return seconds, rss, proc.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "watchlists.toml").write_text(WATCHLISTS)
        (root / "veille.toml").write_text('database = "v.db"\n[fetch]\ntimeout = "60s"\n')
        farm = subprocess.Popen(
            [sys.executable, str(HERE / "feed_farm.py"), "--feeds", str(args.feeds), "--hosts",
             str(args.hosts), "--opml", str(root / "feeds.opml")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert farm.stdout.readline().strip() == "ready"
            veille = [str(Path(sys.executable).with_name("veille")), "--config",
                      str(root / "veille.toml"), "fetch"]
            for label in ("first pass", "second pass"):
                seconds, rss, out = timed(veille)
                print(f"{label}: {seconds:.2f} s wall, {rss / 1024:.0f} MiB peak RSS "
                      f"(largest process) — {out}")
        finally:
            farm.stdin.close()
            farm.wait()


if __name__ == "__main__":
    main()
