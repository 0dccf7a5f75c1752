"""The floors of a first poll, measured on the feed farm: what the fastest plain code costs.

    python floors.py OPML [--in-flight 50]      # prints one JSON object

Runs in the bench virtualenv (aiohttp, httpx and lxml are installed there). Each floor is
timed alone in this process: wall and CPU seconds.
- fetch_aiohttp: every feed with aiohttp, `--in-flight` requests at once;
- fetch_httpx: the same with httpx, in pools of 10 connections (its cheapest shape);
- parse_lxml: an lxml walk of every document taking each entry's id, link, title, date, text;
- insert_sqlite: every entry into an indexed SQLite table, one transaction per feed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIELDS = {"title", "link", "guid", "id", "pubDate", "updated", "date", "description",
          "summary", "content"}


def timed(func: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}, result


async def fetch_aiohttp(urls: list[str], in_flight: int) -> list[bytes]:
    import aiohttp

    gate = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as s:
        async def one(url: str) -> bytes:
            async with gate, s.get(url) as response:
                return await response.read()
        return await asyncio.gather(*(one(u) for u in urls))


async def fetch_httpx(urls: list[str], in_flight: int) -> list[bytes]:
    import httpx

    pools = max(1, in_flight // 10)
    clients = [httpx.AsyncClient(limits=httpx.Limits(max_connections=10), timeout=60)
               for _ in range(pools)]
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int, url: str) -> bytes:
        async with gate:
            return (await clients[i % pools].get(url)).content
    try:
        return await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
    finally:
        for c in clients:
            await c.aclose()


def parse_lxml(bodies: list[bytes]) -> list[list[dict[str, str]]]:
    from lxml import etree

    feeds = []
    for body in bodies:
        root = etree.fromstring(body)
        entries = []
        for element in root.iter("{*}item", "{*}entry"):
            entry = {}
            for child in element:
                name = etree.QName(child).localname
                if name in FIELDS:
                    entry[name] = child.get("href") or child.text or ""
            entries.append(entry)
        feeds.append(entries)
    return feeds


def insert_sqlite(feeds: list[list[dict[str, str]]]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, feed INTEGER, key TEXT, "
                   "title TEXT, link TEXT, published TEXT, content TEXT, UNIQUE (feed, key))")
        count = 0
        for i, entries in enumerate(feeds):
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR IGNORE INTO entries (feed, key, title, link, published, content) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(i, e.get("guid") or e.get("id") or e.get("link"), e.get("title"),
                  e.get("link"), e.get("pubDate") or e.get("updated") or e.get("date"),
                  e.get("description") or e.get("summary") or e.get("content"))
                 for e in entries])
            db.execute("COMMIT")
            count += len(entries)
        db.close()
        return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("opml")
    parser.add_argument("--in-flight", type=int, default=50)
    args = parser.parse_args()
    urls = [o.get("xmlUrl") for o in ET.parse(args.opml).iter("outline")]
    floors: dict[str, dict[str, float]] = {}
    bodies: list[bytes] = []
    with contextlib.suppress(ImportError):
        floors["fetch_aiohttp"], bodies = timed(
            lambda: asyncio.run(fetch_aiohttp(urls, args.in_flight)))
    with contextlib.suppress(ImportError):
        floors["fetch_httpx"], bodies = timed(lambda: asyncio.run(fetch_httpx(urls, args.in_flight)))
    floors["parse_lxml"], feeds = timed(lambda: parse_lxml(bodies))
    floors["insert_sqlite"], _ = timed(lambda: insert_sqlite(feeds))
    print(json.dumps(floors))


if __name__ == "__main__":
    main()
