"""A local feed farm for benchmarks: N feeds of 25 entries served from several loopback hosts.

    python bench/feed_farm.py --feeds 1000 --hosts 20 --opml /tmp/farm.opml [--latency 50]

Each host is its own 127.0.0.k address (all of 127/8 is loopback), so per-host politeness
applies as it would on the internet. Feeds are 45 % RSS 2.0, 45 % Atom 1.0 and 10 % RSS 1.0,
about 70 kB each, answered with ETag and Last-Modified (and 304 to a matching conditional
GET), each answer after `--latency` ms.

Prints "ready" once listening. Reads commands on stdin, one a line, answering "ok":
`change PCT` gives PCT % of the feeds 1 to 3 new entries (and a new ETag). Stops on EOF.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

WORDS = ("gouvernement réforme Assemblée nationale sénat élection président ministre budget "
         "économie entreprise Nestlé L’Oréal Parti pirate numérique données CNIL santé école "
         "climat énergie transport grève syndicat Europe Bruxelles Paris Lyon Marseille").split()
ENGLISH = ("government reform parliament senate election president minister budget economy "
           "company market data privacy health school climate energy transport strike union "
           "Europe Brussels London Berlin Madrid Rome city council court law bank").split()
START = datetime(2026, 11, 1, tzinfo=UTC)


def _item(kind: str, i: int, j: int) -> str:
    words = WORDS if i % 3 == 0 else ENGLISH  # a third in French
    text = " ".join(words[(i * 7 + j * 3 + k) % len(words)] for k in range(60))
    title = escape(f"Article {j} du fil {i} : {words[(i + j) % len(words)]}")
    link = f"https://news{i % 50}.example.org/{i}/{j}"
    when = START + timedelta(minutes=j)
    body = escape(f"<p>{text}</p>")
    if kind == "atom":
        return (f"<entry><title>{title}</title><link href=\"{link}\"/><id>urn:farm:{i}:{j}</id>"
                f"<updated>{when.isoformat()}</updated><summary type=\"html\">{body}</summary>"
                f"<author><name>Rédaction {i % 7}</name></author></entry>")
    if kind == "rdf":
        return (f"<item rdf:about=\"{link}\"><title>{title}</title><link>{link}</link>"
                f"<dc:date>{when.isoformat()}</dc:date><description>{body}</description></item>")
    return (f"<item><title>{title}</title><link>{link}</link><guid>urn:farm:{i}:{j}</guid>"
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
            f"<description>{body}</description></item>")


def feed(i: int, first: int = 0, count: int = 25) -> bytes:
    """Feed `i` with entries first..first+count-1, newest first (as real feeds are)."""
    kind = "atom" if i % 20 < 9 else "rdf" if i % 20 < 11 else "rss"
    items = "".join(_item(kind, i, j) for j in reversed(range(first, first + count)))
    head = '<?xml version="1.0" encoding="utf-8"?>'
    if kind == "atom":
        doc = (f'{head}<feed xmlns="http://www.w3.org/2005/Atom"><title>Fil {i}</title>'
               f'<id>urn:farm:{i}</id><updated>{START.isoformat()}</updated>'
               f'<link href="https://news.example.org/"/>{items}</feed>')
    elif kind == "rdf":
        doc = (f'{head}<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
               f'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
               f'<channel rdf:about="https://news.example.org/"><title>Fil {i}</title>'
               f'<link>https://news.example.org/</link><description>Fil {i}</description>'
               f'</channel>{items}</rdf:RDF>')
    else:
        doc = (f'{head}<rss version="2.0"><channel><title>Fil {i}</title>'
               f'<link>https://news.example.org/</link>{items}</channel></rss>')
    return doc.encode()


class Farm:
    """The documents and their validators; `change` adds entries to some of them.

    Up to KEEP feeds the bodies are kept; beyond, each is rebuilt when asked for (10,000
    feeds would hold 700 MB), so that the farm does not take the memory being measured."""

    KEEP = 2000

    def __init__(self, feeds: int) -> None:
        self.lock = threading.Lock()
        self.first = dict.fromkeys(range(feeds), 0)
        self.docs: dict[str, tuple[bytes | int, str, str]] = {}
        self.keep = feeds <= self.KEEP
        self.round = 0
        for i in range(feeds):
            self._render(i)

    def _render(self, i: int) -> None:
        body = feed(i, self.first[i])
        etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
        modified = format_datetime(START + timedelta(hours=self.round), usegmt=True)
        self.docs[f"/feed/{i}.xml"] = (body if self.keep else i, etag, modified)

    def get(self, path: str) -> tuple[bytes, str, str] | None:
        found = self.docs.get(path)
        if found is None:
            return None
        body, etag, modified = found
        if isinstance(body, int):
            body = feed(body, self.first[body])
        return body, etag, modified

    def change(self, percent: float) -> None:
        self.round += 1
        step = max(1, round(100 / percent)) if percent else 0
        with self.lock:
            for i in self.first:
                if step and (i + self.round) % step == 0:
                    self.first[i] += 1 + (i + self.round) % 3
                    self._render(i)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.0, help="ms before each answer")
    parser.add_argument("--opml", required=True)
    args = parser.parse_args()
    farm = Farm(args.feeds)
    latency = args.latency / 1000

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if latency:
                time.sleep(latency)
            found = farm.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, etag, modified = found
            if self.headers.get("If-None-Match") == etag or (
                    "If-None-Match" not in self.headers
                    and self.headers.get("If-Modified-Since") == modified):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # a client opening 50 connections at once is not refused

    servers = []
    for k in range(args.hosts):
        httpd = Server((f"127.0.0.{k + 2}", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    outlines = "".join(
        f'<outline type="rss" text="Fil {i}" xmlUrl="http://127.0.0.{i % args.hosts + 2}:'
        f'{servers[i % args.hosts].server_address[1]}/feed/{i}.xml"/>' for i in range(args.feeds))
    with open(args.opml, "w") as f:
        f.write(f'<opml version="2.0"><head><title>farm</title></head><body>{outlines}</body></opml>')
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[:1] == ["change"]:
            farm.change(float(command[1]))
        print("ok", flush=True)


if __name__ == "__main__":
    main()
