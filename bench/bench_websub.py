"""Push-to-alert latency: how long after a WebSub hub pushes an entry that an instant watchlist
matches does the webhook receive the alert (target: under 2 s)?

    python bench/bench_websub.py [--pushes 20]

Everything on 127.0.0.1: a feed naming a hub, the hub (this script), a webhook receiver, and
`veille run` as a real subprocess. The script subscribes the daemon the way a hub does
(verification with hub.challenge), then pushes one new matching entry at a time, signed with
the subscription's secret, and times each from the push request to the webhook's arrival.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

PUBLIC = "https://veille.example.org/websub"


class Sink:
    """The feed, the hub's subscription endpoint and the webhook receiver, on one server."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.forms: list[dict[str, str]] = []
        self.hooks: list[float] = []
        self.feed = b""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._answer(200, sink.feed, "application/rss+xml")

            def do_POST(self) -> None:  # noqa: N802
                at = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.cond:
                    if self.path == "/hub":
                        sink.forms.append({k: v[0] for k, v in parse_qs(body.decode()).items()})
                    else:
                        sink.hooks.append(at)
                    sink.cond.notify_all()
                self._answer(202 if self.path == "/hub" else 204, b"", "text/plain")

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def wait(self, what: str, count: int, timeout: float = 60) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: len(getattr(self, what)) >= count, timeout):
                raise SystemExit(f"timed out waiting for {what} #{count}")


def rss(hub: str, items: list[tuple[int, str]]) -> bytes:
    date = format_datetime(datetime.now(UTC), usegmt=True)
    ns = 'xmlns:atom="http://www.w3.org/2005/Atom"'
    body = "".join(f"<item><title>{t}</title><guid>g{i}</guid><link>https://ex.fr/{i}</link>"
                   f"<pubDate>{date}</pubDate></item>" for i, t in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f'
            f'</title><link>https://ex.fr/</link><atom:link {ns} rel="hub" href="{hub}"/>'
            f"{body}</channel></rss>").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=20)
    args = parser.parse_args()
    sink = Sink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), sink.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sink.feed = rss(f"{base}/hub", [(0, "Rien à signaler")])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "veille.toml").write_text(
            f'database = "veille.db"\n[fetch]\ninterval = "1s"\n'
            f'[websub]\nlisten = "127.0.0.1:0"\npublic_url = "{PUBLIC}"\n'
            f'[channels.hook]\ntype = "webhook"\nurl = "{base}/hook"\n', encoding="utf-8")
        (root / "watchlists.toml").write_text(
            '[[watchlist]]\nname = "nestle"\nquery = "nestlé"\nschedule = "instant"\n'
            'channels = ["hook"]\n', encoding="utf-8")
        (root / "feeds.opml").write_text(
            f'<?xml version="1.0"?><opml version="2.0"><body><outline type="rss" '
            f'text="f" xmlUrl="{base}/f.xml"/></body></opml>', encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        daemon = subprocess.Popen([sys.executable, "-m", "veille", "--config",
                                   str(root / "veille.toml"), "run"], env=env,
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        try:
            latencies = run(daemon, sink, args.pushes)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    server.shutdown()
    ms = sorted(v * 1000 for v in latencies)
    print(f"push -> webhook over {len(ms)} pushes: median {statistics.median(ms):.0f} ms, "
          f"p90 {ms[int(len(ms) * 0.9) - 1]:.0f} ms, max {ms[-1]:.0f} ms (target < 2000 ms)")


def run(daemon: subprocess.Popen[str], sink: Sink, pushes: int) -> list[float]:
    assert daemon.stderr is not None
    port = None
    for line in daemon.stderr:
        if m := re.search(r"websub: listening on 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
            break
    if port is None:
        raise SystemExit("the daemon did not start its WebSub server")
    threading.Thread(target=lambda: [None for _ in daemon.stderr], daemon=True).start()
    sink.wait("forms", 1)
    form = sink.forms[0]
    callback = f"http://127.0.0.1:{port}{urlsplit(form['hub.callback']).path}"
    answer = httpx.get(callback, params={"hub.mode": "subscribe", "hub.topic": form["hub.topic"],
                                         "hub.challenge": "c", "hub.lease_seconds": "86400"})
    assert answer.text == "c", answer
    latencies = []
    with httpx.Client() as client:
        for n in range(1, pushes + 1):
            body = rss("", [(n, f"Nestlé, épisode {n}")])
            digest = hmac.new(form["hub.secret"].encode(), body, hashlib.sha256).hexdigest()
            started = time.monotonic()
            client.post(callback, content=body, headers={
                "Content-Type": "application/rss+xml", "X-Hub-Signature": f"sha256={digest}"})
            sink.wait("hooks", n)
            latencies.append(sink.hooks[n - 1] - started)
    return latencies


if __name__ == "__main__":
    main()
