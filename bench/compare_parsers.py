"""Prove the fast parse path: every document it accepts gives what feedparser gives.

    python -m pip download --no-deps --no-binary :all: feedparser==$(python -c \\
        "import feedparser; print(feedparser.__version__)") -d /tmp/fpdl
    tar xzf /tmp/fpdl/feedparser-*.tar.gz -C /tmp/fpdl && cp -r /tmp/fpdl/feedparser-*/tests /tmp/fpcorpus
    python bench/compare_parsers.py --corpus /tmp/fpcorpus [--speed 1000] [-v]

For each document (feedparser's test corpus, tests/golden, bench/feed_farm.py feeds), both
paths of veille.parse.parse_feed run, and the whole ParsedFeed must be equal: keys, links,
titles, authors, dates, summaries, contents, categories, languages, feed title and ttl. Prints
documents accepted by the fast path, fallbacks (with the reasons), and differences (target:
zero); with --speed N, docs/s of both paths over N farm feeds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).parent))

import feedparser  # noqa: E402
from feed_farm import WORDS, feed  # noqa: E402
from lxml import etree  # noqa: E402

from veille import parse_fast_values  # noqa: E402
from veille.parse import _HEADER_NAMES, parse_feed  # noqa: E402
from veille.parse_fast import Decline, _Reader, read_fast  # noqa: E402
from veille.parser_pool import ParserPool  # noqa: E402

HEADERS = {"content-type": "application/xml"}
# the same documents served as servers serve feeds: each changes what feedparser complains of
VARIANTS = [HEADERS, {"content-type": "text/xml"}, {"content-type": "text/xml; charset=utf-8"},
            {"content-type": "text/html"}, {}]
ROOT = Path(__file__).resolve().parent.parent


def richer(i: int) -> list[tuple[str, bytes]]:
    """The farm's feed i as the other formats and extensions real feeds carry: Atom 1.0 (HTML
    content, author, categories, alternate link), RSS 1.0 (dc:*), and RSS 2.0 with
    content:encoded, dc:creator, atom:link, media:thumbnail, enclosure, source."""
    now = datetime.now(UTC)
    atom, rdf, rss2 = [], [], []
    for j in range(25):
        words = " ".join(WORDS[(i * 7 + j * 3 + k) % len(WORDS)] for k in range(60))
        title = escape(f"Article {j} du fil {i} : L’{WORDS[(i + j) % len(WORDS)]}")
        link = f"https://news{i % 50}.example.org/{i}/{j}?utm_source=rss&amp;id={j}"
        when = now - timedelta(minutes=j)
        html = escape(f"<p>{words} <a href='/x'>lien</a>&nbsp;—</p>")
        atom.append(
            f"<entry><title type='html'>{escape(title)}</title><link rel='alternate' href='{link}'/>"
            f"<id>tag:news.example.org,2026:{i}-{j}</id><updated>{when.isoformat()}</updated>"
            f"<author><name>Zoé {j}</name></author><category term='{WORDS[j % len(WORDS)]}'/>"
            f"<summary>{escape(words[:200])}</summary><content type='html'>{html}</content></entry>")
        rdf.append(
            f"<item rdf:about='https://rdf.example.org/{i}/{j}'><title>{title}</title>"
            f"<link>https://rdf.example.org/{i}/{j}</link><dc:date>{when.isoformat()}</dc:date>"
            f"<dc:creator>Zoé</dc:creator><dc:subject>{WORDS[j % len(WORDS)]}</dc:subject>"
            f"<description>{html}</description></item>")
        rss2.append(
            f"<item><title>{title}</title><link>{link}</link><guid isPermaLink='false'>{i}-{j}</guid>"
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate><dc:creator>Zoé</dc:creator>"
            f"<category>{WORDS[j % len(WORDS)]}</category><description>{escape(words[:200])}"
            f"</description><content:encoded><![CDATA[<p>{words}</p>]]></content:encoded>"
            f"<media:thumbnail url='https://img.example.org/{j}.jpg'/><enclosure url='https://"
            f"img.example.org/{j}.mp3' length='1' type='audio/mpeg'/><atom:link rel='related' "
            f"href='https://x.example/'/><source url='https://lemonde.example/rss'>Le Monde</source>"
            f"</item>")
    return [
        (f"atom/{i}", ("<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'"
                       f" xml:lang='fr'><title>Fil {i}</title><link href='https://news.example.org/'/>"
                       f"<id>urn:fil:{i}</id><updated>{now.isoformat()}</updated>{''.join(atom)}"
                       "</feed>").encode()),
        (f"rdf/{i}", ("<?xml version='1.0' encoding='utf-8'?><rdf:RDF xmlns:rdf='http://www.w3.org/"
                      "1999/02/22-rdf-syntax-ns#' xmlns='http://purl.org/rss/1.0/' xmlns:dc='http://"
                      f"purl.org/dc/elements/1.1/'><channel rdf:about='https://rdf.example.org/'><title>"
                      f"Fil {i}</title><link>https://rdf.example.org/</link><description>d</description>"
                      f"</channel>{''.join(rdf)}</rdf:RDF>").encode()),
        (f"rss2/{i}", ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0' xmlns:content='http://"
                       "purl.org/rss/1.0/modules/content/' xmlns:dc='http://purl.org/dc/elements/1.1/' "
                       "xmlns:atom='http://www.w3.org/2005/Atom' xmlns:media='http://search.yahoo.com/"
                       f"mrss/'><channel><title>Fil {i}</title><link>https://news.example.org/</link>"
                       "<atom:link rel='self' href='https://news.example.org/feed'/><language>fr</language>"
                       f"<ttl>30</ttl>{''.join(rss2)}</channel></rss>").encode()),
    ]


def decline_reason(url: str, body: bytes, headers: dict[str, str]) -> str | None:
    """Why the fast path declines `body` (None: it accepts it)."""
    response_headers = {k: v for k, v in headers.items() if k in _HEADER_NAMES}
    response_headers.setdefault("content-location", url)
    try:
        _Reader(body, response_headers).read()
    except Decline as e:
        return str(e).split(" ")[0] if str(e).startswith("<") else str(e)
    except Exception as e:  # noqa: BLE001 - lxml's errors: not well-formed and the like
        return f"{type(e).__name__}"
    return None


def as_data(result: Any) -> Any:
    """The parse as plain data, the fast reader's item fingerprints aside (feedparser gives
    none: they say how to skip a stored item next time, not what the entry is)."""
    if isinstance(result, str):
        return f"failure: {result}"
    data = asdict(result)
    data["entries"] = [{k: v for k, v in e.items() if k != "fingerprint"}
                       for e in data["entries"]]
    return data


def compare(docs: list[tuple[str, bytes]], headers: dict[str, str], verbose: bool
            ) -> tuple[int, Counter[str], list[str]]:
    accepted, reasons, differences = 0, Counter[str](), []
    for name, body in docs:
        url = f"http://corpus.example/{name}"
        reason = decline_reason(url, body, headers)
        if reason is not None:
            reasons[reason] += 1
            continue
        accepted += 1
        fast = as_data(parse_feed(url, body, headers))
        slow = as_data(parse_feed(url, body, headers, fast=False))
        if fast != slow:
            differences.append(name)
            if verbose:
                print(f"DIFF {name}\n  fast: {fast}\n  slow: {slow}")
    return accepted, reasons, differences


def report(title: str, docs: list[tuple[str, bytes]], headers: dict[str, str],
           verbose: bool) -> int:
    accepted, reasons, differences = compare(docs, headers, verbose)
    print(f"{title}: {len(docs)} documents, {accepted} accepted by the fast path, "
          f"{sum(reasons.values())} fallbacks, {len(differences)} differences")
    for reason, count in reasons.most_common(12 if not verbose else None):
        print(f"    fallback {count:5d}  {reason}")
    for name in differences:
        print(f"    DIFFERENT  {name}")
    return len(differences)


WORKER_CPU: list[float] = []  # read from /proc before the pool stops them


def cpu() -> float:
    """CPU seconds of this process, plus those of pool workers recorded before their end."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + sum(WORKER_CPU)


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, count: int, run: Callable[[], object]) -> None:
    wall, used = time.perf_counter(), cpu()
    run()
    wall, used = time.perf_counter() - wall, cpu() - used
    print(f"{label:>28}: {count / wall:7,.0f} docs/s wall ({wall:6.2f} s), "
          f"{count / used:7,.0f} docs/s of CPU ({used / count * 1000:5.2f} ms CPU/feed)")


def speed(count: int) -> None:
    """Both paths over the same farm feeds (25 entries, ~72 KB each), parse_feed end to end
    (entries built, HTML sanitized); then the fast path inline against the parser pool."""
    bodies = [feed(i) for i in range(count)]
    headers = {"content-type": "application/rss+xml"}

    def first_poll() -> None:
        """The farm's feeds share their dates: forget them, as a first poll would not meet
        the same dates again."""
        parse_fast_values.parse_date.cache_clear()
        parse_fast_values._cached_urljoin.cache_clear()

    def inline(fast: bool) -> None:
        for i, body in enumerate(bodies):
            first_poll()
            parse_feed(f"http://127.0.0.1/feed/{i}.xml", body, headers, fast=fast)

    def pooled() -> None:
        pool = ParserPool()

        async def run() -> None:
            await asyncio.gather(*(pool.parse(f"http://127.0.0.1/feed/{i}.xml", body, headers)
                                   for i, body in enumerate(bodies)))
        try:
            asyncio.run(run())
            WORKER_CPU.extend(process_cpu(pid) for pid in pool.worker_pids())
        finally:
            pool.close()

    def readers(fast: bool) -> None:
        for i, body in enumerate(bodies):
            found = {**headers, "content-location": f"http://127.0.0.1/feed/{i}.xml"}
            if fast:
                first_poll()
                read_fast(body, found)
            else:
                feedparser.parse(body, response_headers=found, resolve_relative_uris=False,
                                 sanitize_html=False)

    def floor() -> None:
        for body in bodies:
            for el in etree.fromstring(body).iter():
                el.text  # noqa: B018 - the walk the issue's floor measures

    timed("floor: lxml parse + walk", count, floor)
    timed("reader only: read_fast", count, lambda: readers(True))
    timed("reader only: feedparser", count, lambda: readers(False))
    timed("fast path, inline", count, lambda: inline(True))
    timed("feedparser, inline", count, lambda: inline(False))
    timed(f"fast path, pool of {ParserPool().workers}", count, pooled)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, help="feedparser's tests/ directory, extracted")
    parser.add_argument("--farm", type=int, default=1000, help="farm feeds to compare")
    parser.add_argument("--speed", type=int, default=0, help="farm feeds to time both paths on")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # feedparser's DeprecationWarning for updated -> published
    failed = 0
    if args.corpus:
        files = sorted(p for p in args.corpus.rglob("*") if p.is_file()
                       and p.suffix in (".xml", ".rdf", ".atom", ".rss"))
        docs = [(str(p.relative_to(args.corpus)), p.read_bytes()) for p in files]
        for headers in VARIANTS:
            failed += report(f"feedparser corpus {headers}", docs, headers, args.verbose)
    golden = sorted((ROOT / "tests" / "golden").glob("*.[xr][md][lf]"))
    for headers in VARIANTS:
        failed += report(f"tests/golden {headers}", [(p.name, p.read_bytes()) for p in golden],
                         headers, args.verbose)
    farm = [(f"farm/{i}", feed(i)) for i in range(args.farm)]
    failed += report("bench/feed_farm.py", farm, {"content-type": "application/rss+xml"},
                     args.verbose)
    variants = [doc for i in range(0, args.farm, 10) for doc in richer(i)]
    failed += report("Atom / RSS 1.0 / richer RSS 2.0 variants of the farm", variants,
                     {"content-type": "text/xml; charset=utf-8"}, args.verbose)
    if args.speed:
        speed(args.speed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
