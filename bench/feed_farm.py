"""A local feed farm for benchmarks: N feeds of 25 entries served from several loopback hosts.

    python bench/feed_farm.py --feeds 1000 --hosts 20 --opml /tmp/farm.opml

Each host is its own 127.0.0.k address (all of 127/8 is loopback), so per-host politeness
applies as it would on the internet. Prints "ready" once listening; stops on stdin EOF.
"""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

WORDS = ("gouvernement réforme Assemblée nationale sénat élection président ministre budget "
         "économie entreprise Nestlé L’Oréal Parti pirate numérique données CNIL santé école "
         "climat énergie transport grève syndicat Europe Bruxelles Paris Lyon Marseille").split()


def feed(i: int) -> bytes:
    now = datetime.now(UTC)
    items = []
    for j in range(25):
        words = " ".join(WORDS[(i * 7 + j * 3 + k) % len(WORDS)] for k in range(60))
        items.append(
            f"<item><title>{escape(f'Article {j} du fil {i} : {WORDS[(i + j) % len(WORDS)]}')}"
            f"</title><link>https://news{i % 50}.example.org/{i}/{j}</link>"
            f"<guid>urn:farm:{i}:{j}</guid>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=j), usegmt=True)}</pubDate>"
            f"<description>{escape(f'<p>{words}</p>')}</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Fil {i}</title><link>https://news.example.org/</link>{''.join(items)}"
            f"</channel></rss>").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--opml", required=True)
    args = parser.parse_args()
    bodies = {f"/feed/{i}.xml": feed(i) for i in range(args.feeds)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    servers = []
    for k in range(args.hosts):
        httpd = ThreadingHTTPServer((f"127.0.0.{k + 2}", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    outlines = "".join(
        f'<outline type="rss" text="Fil {i}" xmlUrl="http://127.0.0.{i % args.hosts + 2}:'
        f'{servers[i % args.hosts].server_address[1]}/feed/{i}.xml"/>' for i in range(args.feeds))
    with open(args.opml, "w") as f:
        f.write(f'<opml version="2.0"><head><title>farm</title></head><body>{outlines}</body></opml>')
    print("ready", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
