"""Inline or worker processes: no pool for a pass with little to parse, a pool for a backlog,
the same results either way, and nothing unbounded in the daemon's own process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from veille import parse_route
from veille.models import ParsedFeed
from veille.parse import parse_fast_only, parse_feed
from veille.parse_route import (
    BUSY_WINDOW,
    EXPECTED_BODIES,
    INLINE_BACKLOG_BYTES,
    INLINE_MAX_BYTES,
    INLINE_RATE_BYTES,
    BusyMeter,
    Load,
    Route,
    route,
)
from veille.parser_pool import PARSER_ID, ParserPool

from .conftest import rss

GOLDEN = Path(__file__).parent / "golden"
XML = {"content-type": "application/xml"}
SMALL = 70 * 1024


def farm_feed(i: int, entries: int = 25) -> bytes:
    """About bench/feed_farm.py's size: 25 entries of some 2.5 kB."""
    text = " ".join(["Nestlé", "L’Oréal", "économie", "grève", "Assemblée"] * 80)
    return rss([{"title": f"Article {j} du fil {i}", "guid": f"urn:{i}:{j}",
                 "link": f"https://fil.example/{i}/{j}", "description": f"<p>{text} {j}</p>"}
                for j in range(entries)], title=f"Fil {i}").encode()


# a document only feedparser reads (the fast reader declines any DTD)
DECLINED = farm_feed(0, 2).replace(b"<rss ", b'<!DOCTYPE rss SYSTEM "x.dtd">\n<rss ', 1)


@pytest.mark.parametrize(("load", "expected"), [
    (Load(SMALL, cores=2), Route.INLINE),  # nothing waiting: inline
    (Load(SMALL, inline_bytes=INLINE_BACKLOG_BYTES - SMALL, cores=2), Route.INLINE),
    (Load(SMALL, inline_bytes=INLINE_BACKLOG_BYTES, cores=2), Route.POOL),  # a backlog
    (Load(INLINE_MAX_BYTES + 1, cores=2), Route.POOL),  # too big to bound inline
    (Load(INLINE_MAX_BYTES + 1, cores=1), Route.POOL),  # ...even on one core
    (Load(SMALL, inline_bytes=10 * INLINE_BACKLOG_BYTES, cores=1), Route.INLINE),  # no gain
    # a started pool with an idle worker takes the body; a busy one does not
    (Load(SMALL, pool_started=True, pool_busy=1, pool_slots=2, cores=2), Route.POOL),
    (Load(SMALL, pool_started=True, pool_busy=2, pool_slots=2, cores=2), Route.INLINE),
    (Load(SMALL, inline_bytes=INLINE_BACKLOG_BYTES, pool_started=True, pool_busy=2,
          pool_slots=2, cores=2), Route.POOL),
    # a steady stream parsed inline: worth a worker (started for it), while one is idle
    (Load(SMALL, recent_inline_bytes=INLINE_RATE_BYTES + 1, cores=2), Route.POOL),
    (Load(SMALL, recent_inline_bytes=INLINE_RATE_BYTES, cores=2), Route.INLINE),
    (Load(SMALL, recent_inline_bytes=INLINE_RATE_BYTES + 1, pool_started=True, pool_busy=1,
          pool_slots=1, cores=2), Route.INLINE),
    (Load(SMALL, recent_inline_bytes=INLINE_RATE_BYTES + 1, cores=1), Route.INLINE),
    # a saturated process that spends a fair share of its time parsing: the pool starts...
    (Load(SMALL, process_busy=0.95, parse_share=0.3, cores=2,
          recent_inline_bytes=INLINE_BACKLOG_BYTES), Route.POOL),
    (Load(SMALL, process_busy=0.95, parse_share=0.3, cores=2,
          recent_inline_bytes=INLINE_BACKLOG_BYTES - 1), Route.INLINE),  # a short pass
    (Load(SMALL, process_busy=0.95, parse_share=0.05, cores=2,
          recent_inline_bytes=INLINE_BACKLOG_BYTES), Route.INLINE),  # parses little
    (Load(SMALL, process_busy=0.5, parse_share=0.3, cores=2,
          recent_inline_bytes=INLINE_BACKLOG_BYTES), Route.INLINE),  # not saturated
    (Load(SMALL, process_busy=1.0, parse_share=0.9, cores=1,
          recent_inline_bytes=INLINE_BACKLOG_BYTES), Route.INLINE),  # nowhere else
    # ...and takes what its slots can take; while the process is saturated the overflow
    # queues there too (the workers have a backlog; the process is what everything waits for)
    (Load(SMALL, pool_started=True, pool_busy=63, pool_slots=64, cores=2, process_busy=0.95),
     Route.POOL),
    (Load(SMALL, pool_started=True, pool_busy=64, pool_slots=64, cores=2, process_busy=0.95,
          parse_share=0.3), Route.POOL),
    (Load(SMALL, pool_started=True, pool_busy=64, pool_slots=64, cores=2, process_busy=0.5,
          parse_share=0.3), Route.INLINE),  # the process has room: it parses the overflow
    # a first poll: the pass knows a lot of parsing is coming, whatever the CPU figures say
    (Load(SMALL, expected=EXPECTED_BODIES, cores=2), Route.POOL),
    (Load(SMALL, expected=EXPECTED_BODIES - 1, cores=2), Route.INLINE),
    (Load(SMALL, expected=10 * EXPECTED_BODIES, cores=1), Route.INLINE),
    (Load(SMALL, expected=10 * EXPECTED_BODIES, pool_started=True,
          pool_busy=64, pool_slots=64, cores=2), Route.POOL),  # full: queued there too
    (Load(SMALL, expected=EXPECTED_BODIES - 1, pool_started=True,
          pool_busy=64, pool_slots=64, cores=2), Route.INLINE),  # its end
])
def test_the_route_is_a_function_of_the_load(load: Load, expected: Route):
    assert route(load) == expected


def test_the_busy_meter_reads_cpu_per_wall_second_over_its_window():
    meter = BusyMeter()
    assert meter.sample(100.0, 50.0, 10.0) == (0.0, 0.0)  # nothing seen yet
    step = BUSY_WINDOW / 8
    for i in range(1, 9):  # a process using 90 % of a core, a third of it parsing inline
        busy, share = meter.sample(100 + i * step, 50 + 0.9 * i * step, 10 + 0.3 * i * step)
    assert busy == pytest.approx(0.9) and share == pytest.approx(0.3)
    for i in range(9, 40):  # then idle: the window forgets the busy seconds
        busy, share = meter.sample(100 + i * step, 50 + 0.9 * 8 * step, 10 + 0.3 * 8 * step)
    assert busy == 0.0 and share == 0.0


def test_a_saturated_process_hands_its_parsing_to_a_worker(monkeypatch: pytest.MonkeyPatch):
    """A daemon back from a long outage finds thousands of feeds changed: it is busy storing
    and matching while bodies arrive one at a time, no backlog builds, yet parsing in the
    process slows everything. Once it has parsed a few MB so, the pool takes over. (The
    saturation bar is lowered: a loaded test machine may not give this process a whole
    core.)"""
    monkeypatch.setattr(parse_route, "BUSY_SHARE", 0.3)
    monkeypatch.setattr(parse_route, "PARSE_SHARE", 0.01)
    pool = ParserPool(workers=1, inline=parse_fast_only)
    body = farm_feed(0)

    async def scenario() -> None:
        deadline = time.monotonic() + 60
        n = 0
        while pool.routed[Route.POOL] < 3 and time.monotonic() < deadline:
            busy_until = time.process_time() + 0.02  # storing a feed's entries
            while time.process_time() < busy_until:
                pass
            await pool.parse(f"https://fil.example/{n}", body, XML)
            n += 1

    try:
        asyncio.run(scenario())
        assert pool.routed[Route.POOL] >= 3 and pool.routed[Route.INLINE] > 0
    finally:
        pool.close()


def test_a_first_poll_parses_in_the_pool_from_its_first_body():
    """Without the hint, bodies like these are parsed inline
    (test_a_pass_with_few_changed_feeds_starts_no_worker_process)."""
    pool = ParserPool(workers=1, inline=parse_fast_only)
    try:
        pool.expect(EXPECTED_BODIES + 5)
        parse_all(pool, [farm_feed(i) for i in range(5)])
        assert pool.routed == {Route.INLINE: 0, Route.POOL: 5} and pool.worker_pids()
    finally:
        pool.close()


def parse_all(pool: ParserPool, bodies: list[bytes]) -> list[object]:
    async def scenario() -> list[object]:
        return list(await asyncio.gather(*(pool.parse(f"https://fil.example/{i}", b, XML)
                                           for i, b in enumerate(bodies))))
    return asyncio.run(scenario())


def test_a_pass_with_few_changed_feeds_starts_no_worker_process():
    pool = ParserPool(inline=parse_fast_only)
    try:
        results = parse_all(pool, [farm_feed(i) for i in range(20)])
        assert pool._executor is None and pool.worker_pids() == []
        assert pool.routed == {Route.INLINE: 20, Route.POOL: 0}
    finally:
        pool.close()
    assert all(isinstance(r, ParsedFeed) and r.parser == PARSER_ID for r in results)


def test_the_pool_counts_what_its_inline_lane_parsed_lately():
    """One body after the other never makes a backlog: the bytes parsed within the window
    are what tells a steady stream (a first poll on a busy process) from a few changes."""
    bodies = [farm_feed(i) for i in range(3)]
    pool = ParserPool(inline=parse_fast_only)

    async def scenario() -> None:
        for body in bodies:
            await pool.parse("https://fil.example/feed", body, XML)

    try:
        asyncio.run(scenario())
        load = pool.load(SMALL)
        assert load.recent_inline_bytes == sum(map(len, bodies)) and load.inline_bytes == 0
        assert route(load) == Route.INLINE
    finally:
        pool.close()


def test_a_backlog_of_bodies_is_parsed_by_the_pool_too():
    bodies = [farm_feed(i) for i in range(200)]
    assert sum(map(len, bodies)) > 2 * INLINE_BACKLOG_BYTES
    pool = ParserPool(workers=2, inline=parse_fast_only)
    try:
        results = parse_all(pool, bodies)
        assert pool.routed[Route.POOL] > 0 and pool.routed[Route.INLINE] > 0
        assert pool.worker_pids()
    finally:
        pool.close()
    expected = [parse_feed(f"https://fil.example/{i}", b, XML) for i, b in enumerate(bodies)]
    assert [r.entries if isinstance(r, ParsedFeed) else r for r in results] == \
        [e.entries if isinstance(e, ParsedFeed) else e for e in expected]


@pytest.mark.parametrize("name", ["rss20.xml", "rss10.rdf", "atom10.xml", "googlenews.xml",
                                  "jsonfeed11.jsonfeed"])
def test_inline_and_pool_give_the_same_feed(name: str):
    body = (GOLDEN / name).read_bytes()
    headers = ({"content-type": "application/feed+json"} if name.endswith("jsonfeed")
               else XML)
    inline = ParserPool(inline=parse_fast_only)
    pooled = ParserPool(workers=1)
    try:
        a = asyncio.run(inline.parse("https://fil.example/feed", body, headers))
        b = asyncio.run(pooled.parse("https://fil.example/feed", body, headers))
        assert inline.routed[Route.INLINE] == 1 and pooled.worker_pids()
    finally:
        inline.close()
        pooled.close()
    assert isinstance(a, ParsedFeed) and a == b


def test_a_document_the_fast_reader_declines_is_parsed_by_feedparser_in_a_worker():
    assert parse_fast_only("https://fil.example/feed", DECLINED, XML) is None
    pool = ParserPool(workers=1, inline=parse_fast_only)
    try:
        [result] = parse_all(pool, [DECLINED])
        assert pool.routed == {Route.INLINE: 0, Route.POOL: 1} and pool.worker_pids()
    finally:
        pool.close()
    assert isinstance(result, ParsedFeed) and len(result.entries) == 2
    expected = parse_feed("https://fil.example/0", DECLINED, XML)
    assert isinstance(expected, ParsedFeed) and result.entries == expected.entries


def test_a_huge_body_never_runs_in_the_daemons_process():
    """Size is the inline lane's bound: a huge document goes to a worker whose parse has a
    time limit and can be killed, never to the event loop's process."""
    huge = farm_feed(0, entries=(INLINE_MAX_BYTES // len(farm_feed(0, 1))) + 10)
    assert len(huge) > INLINE_MAX_BYTES

    def refuse(url: str, body: bytes, headers: dict[str, str]) -> None:
        raise AssertionError("parsed inline")

    pool = ParserPool(workers=1, inline=refuse)
    try:
        [result] = parse_all(pool, [huge])
        assert pool.routed == {Route.INLINE: 0, Route.POOL: 1}
    finally:
        pool.close()
    assert isinstance(result, ParsedFeed)


def test_hostile_documents_are_declined_by_the_inline_reader_not_expanded():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
              + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">'
                         % (ord("b") + i, *(ord("a") + i,) * 10) for i in range(8))
              + b']><rss version="2.0"><channel><title>&i;</title></channel></rss>')
    deep = b'<rss version="2.0"><channel>' + b"<x>" * 100_000 + b"</x>" * 100_000 + \
        b"</channel></rss>"
    for body in (laughs, deep):
        started = time.process_time()
        assert parse_fast_only("https://fil.example/feed", body, XML) is None
        assert time.process_time() - started < 5  # declined, not expanded or recursed


def test_idle_workers_are_stopped_and_started_again_when_needed():
    pool = ParserPool(workers=1, inline=parse_fast_only, idle=0.05)

    async def scenario() -> tuple[list[int], bool, object]:
        await pool.parse("https://fil.example/feed", DECLINED, XML)
        pids = pool.worker_pids()
        deadline = time.monotonic() + 30
        while pool._executor is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stopped = pool._executor is None
        again = await pool.parse("https://fil.example/feed", DECLINED, XML)
        return pids, stopped, again

    try:
        pids, stopped, again = asyncio.run(scenario())
        assert pids and stopped
        assert isinstance(again, ParsedFeed) and pool.routed[Route.POOL] == 2
    finally:
        pool.close()
