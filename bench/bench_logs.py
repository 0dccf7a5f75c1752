"""How many log lines the daemon writes a minute with many healthy feeds polled often.

    python bench/bench_logs.py [--feeds 1000] [--interval 20s] [--minutes 8]

Serves `--feeds` local feeds (bench/feed_farm.py, 20 loopback hosts), runs `veille run
--log-level debug` on them, and counts the lines of each minute: those a service writes at the
default level (INFO and above) and the DEBUG detail beside them. The first minutes hold the
first polls (every entry is new; 1,000 feeds take a few minutes on a loaded 2-core machine);
the steady state is the second half of the run. Target: under 60 INFO lines a minute at a
20 s interval (issue 12).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--interval", default="20s")
    ap.add_argument("--minutes", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        farm = subprocess.Popen([sys.executable, str(HERE / "feed_farm.py"), "--feeds",
                                 str(args.feeds), "--hosts", "20", "--opml",
                                 str(root / "feeds.opml")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert farm.stdout is not None and farm.stdout.readline().strip() == "ready"
        (root / "watchlists.toml").write_text("", encoding="utf-8")
        (root / "veille.toml").write_text(
            f'database = "veille.db"\n[fetch]\ninterval = "{args.interval}"\n',
            encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM",
                                                                  "NOTIFY_SOCKET")}
        daemon = subprocess.Popen([sys.executable, "-m", "veille", "--config",
                                   str(root / "veille.toml"), "run", "--log-level", "debug"],
                                  stderr=subprocess.PIPE, text=True, env=env)
        started = time.monotonic()
        lines: list[tuple[float, str]] = []

        def read() -> None:
            assert daemon.stderr is not None
            for line in daemon.stderr:
                lines.append((time.monotonic() - started, line.rstrip("\n")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(args.minutes * 60)  # a measurement over wall-clock minutes
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        reader.join(10)
        farm.stdin.close()  # type: ignore[union-attr]
        farm.wait(10)
    print(f"{args.feeds} feeds, interval {args.interval}, {args.minutes} minutes")
    print(f"{'minute':>6} {'INFO+ lines':>11} {'DEBUG lines':>11}")
    steady = []
    for minute in range(args.minutes):
        chunk = [text for at, text in lines if minute * 60 <= at < (minute + 1) * 60]
        info = [t for t in chunk if " DEBUG " not in t]
        print(f"{minute + 1:>6} {len(info):>11} {len(chunk) - len(info):>11}")
        if minute >= args.minutes // 2:
            steady.append(len(info))
    if steady:
        print(f"steady state (minutes {args.minutes - len(steady) + 1}-{args.minutes}): "
              f"{max(steady)} INFO+ lines a minute at most (target < 60)")
    for at, text in lines:
        if " DEBUG " not in text:
            print(f"  {at:6.1f}s {text}")


if __name__ == "__main__":
    main()
