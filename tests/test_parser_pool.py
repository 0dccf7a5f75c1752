"""The parser pool heals: a worker killed with SIGKILL (a segfault, the OOM killer) or a parse
that never returns costs one feed, and the next parse works."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from veille.models import ParsedFeed
from veille.parser_pool import PARSER_ID, ParserPool, ParserTrouble

from .conftest import rss
from .parse_stubs import hanging_parse

FEED = rss([{"title": "Nestlé", "guid": "1"}]).encode()


def test_a_worker_killed_with_sigkill_is_replaced_and_the_feed_retried():
    events: list[str] = []
    pool = ParserPool(workers=1, on_event=events.append)

    async def scenario() -> object:
        assert isinstance(await pool.parse("https://f", FEED, {}), ParsedFeed)
        [pid] = pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        return await pool.parse("https://f", FEED, {})

    try:
        result = asyncio.run(scenario())
        assert isinstance(result, ParsedFeed) and result.entries[0].title == "Nestlé"
        assert result.parser == PARSER_ID and PARSER_ID.startswith("feedparser/")
        assert pool.crashes == 1 and events == ["parser_crash"]
        assert isinstance(asyncio.run(pool.parse("https://f", FEED, {})), ParsedFeed)
    finally:
        pool.close()


def test_a_hung_parse_is_killed_and_the_pool_replaced():
    events: list[str] = []
    pool = ParserPool(workers=2, timeout=4, parse=hanging_parse, on_event=events.append)

    async def scenario() -> tuple[object, object, list[int]]:
        # both workers started and warm first (each has imported this module to unpickle
        # hanging_parse, seconds on a loaded machine): the bound must measure the parse only
        await asyncio.gather(*(pool.parse("https://f", b"nap", {}) for _ in range(2)))
        pids = pool.worker_pids()
        hung, fine = await asyncio.gather(pool.parse("https://hang", b"hang", {}),
                                          pool.parse("https://f", FEED, {}))
        return hung, fine, pids

    try:
        hung, fine, old_pids = asyncio.run(scenario())
        assert isinstance(hung, ParserTrouble) and hung.kind == "parse_timeout"
        assert "longer than 4s" in hung.message
        assert isinstance(fine, ParsedFeed)  # a parse beside the hung one is not lost
        assert pool.timeouts == 1 and events == ["parse_timeout"]
        for pid in old_pids:  # the stuck worker is gone, not left spinning
            assert _dead(pid), pid
        assert isinstance(asyncio.run(pool.parse("https://f", FEED, {})), ParsedFeed)
    finally:
        pool.close()


def test_the_parses_queued_behind_a_hung_one_are_parsed_on_the_new_pool():
    """Bodies wait in the executor's queue behind the one a worker is parsing (many per
    worker, so that a busy event loop does not starve it): when that one hangs, its time
    bound kills the pool, and the bodies behind it are parsed again, not failed."""
    pool = ParserPool(workers=1, timeout=4, parse=hanging_parse)

    async def scenario() -> list[object]:
        await pool.parse("https://f", b"nap", {})  # the worker started and warm
        return list(await asyncio.gather(pool.parse("https://hang", b"hang", {}),
                                         *(pool.parse(f"https://f{i}", FEED, {})
                                           for i in range(3))))

    try:
        hung, *queued = asyncio.run(scenario())
        assert isinstance(hung, ParserTrouble) and hung.kind == "parse_timeout"
        assert all(isinstance(r, ParsedFeed) for r in queued), queued
        assert pool.timeouts == 1
    finally:
        pool.close()


def _dead(pid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    return True  # a zombie: killed, waiting for its parent to reap it
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


def test_parser_crashes_are_counted_for_status(workspace):
    from veille.app import App
    from veille.config import load_settings
    from veille.status import build_status

    app = App(load_settings(workspace.config))
    pool = app.parser_pool()
    # the app's pool parses small plain feeds in its own process (parse_route.py): a DTD
    # sends this one to feedparser, in the worker processes
    body = FEED.replace(b"<rss ", b'<!DOCTYPE rss SYSTEM "x.dtd"><rss ', 1)

    async def scenario() -> object:
        await pool.parse("https://f", body, {})
        assert pool.worker_pids()
        for pid in pool.worker_pids():
            os.kill(pid, signal.SIGKILL)
        return await pool.parse("https://f", body, {})

    try:
        assert isinstance(asyncio.run(scenario()), ParsedFeed)
    finally:
        pool.close()
    report = build_status(app, running=False)
    assert report["daemon"]["parser_crashes"] == 1 and report["daemon"]["parse_timeouts"] == 0
    app.close()
    assert "parser: 1 crashes, 0 timeouts" in workspace.run("status", code=1).stdout


def test_the_survivors_of_a_broken_pool_are_not_left_blocked():
    """An idle worker waits for work holding the call queue's lock: killed there, it leaves
    the other workers blocked on that lock for ever, and the executor's thread joining them
    hangs the whole process at exit. They are killed with the pool."""
    pool = ParserPool(workers=2)

    async def scenario() -> list[int]:
        await asyncio.gather(*(pool.parse("https://f", FEED, {}) for _ in range(4)))
        pids = pool.worker_pids()
        os.kill(pids[0], signal.SIGKILL)
        assert isinstance(await pool.parse("https://f", FEED, {}), ParsedFeed)
        return pids

    try:
        pids = asyncio.run(scenario())
        assert len(pids) == 2
        for pid in pids:
            assert _dead(pid), f"worker {pid} of the broken pool is still alive"
    finally:
        pool.close()
