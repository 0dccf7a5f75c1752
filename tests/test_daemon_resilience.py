"""The watch never goes blind by itself, proven on the daemon as a subprocess: a slow feed and
a dead channel hold nobody else, and CLI writers beside it never meet "database is locked"."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from .conftest import FeedServer, Request, Workspace, rss
from .test_daemon import item, start

INTERVAL = 1.0


def stop(daemon) -> str:
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=30) == 0, "".join(daemon.lines)
    log = "".join(daemon.lines)
    assert "Traceback" not in log, log
    return log


@pytest.fixture
def slow_and_dead(feed_server: FeedServer, workspace: Workspace) -> Workspace:
    """One feed that takes 25 s to answer, one webhook that never answers."""
    slow_done = threading.Event()

    def slow(request: Request):
        feed_server.release.wait(25)
        slow_done.set()
        return 200, {"Content-Type": "application/rss+xml"}, rss([item(0, "Lent")]).encode()

    def dead(request: Request):
        feed_server.release.wait(120)
        return 204, {}, b""

    feed_server.routes["/slow.xml"] = slow
    feed_server.routes["/dead"] = dead
    feed_server.routes["/hook"] = (204, {}, b"")
    feed_server.slow_done = slow_done  # type: ignore[attr-defined]
    workspace.config.write_text(
        f'database = "var/veille.db"\n[fetch]\ninterval = "{INTERVAL:g}s"\ntimeout = "60s"\n'
        f'[channels.dead]\ntype = "webhook"\nurl = "{feed_server.url("/dead")}"\n'
        f'timeout = "60s"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n')
    workspace.write_watchlists(
        '[[watchlist]]\nname = "nestle"\nquery = "nestlé"\nschedule = "instant"\n'
        'channels = ["dead"]\n'
        '[[watchlist]]\nname = "danone"\nquery = "danone"\nschedule = "instant"\n'
        'channels = ["hook"]\n')
    workspace.write_feeds([feed_server.url("/slow.xml"),
                           feed_server.serve("/f.xml", rss([item(1, "Rien à signaler")]))])
    return workspace


def test_a_slow_feed_and_a_dead_channel_hold_nobody_else(slow_and_dead: Workspace,
                                                         feed_server: FeedServer):
    daemon = start(slow_and_dead, None)
    try:
        feed_server.wait_for("/slow.xml", timeout=30)  # from now on it hangs for 25 s
        feed_server.wait_for("/f.xml", timeout=30)
        feed_server.serve("/f.xml", rss([item(1, "Rien à signaler"),
                                         item(2, "Nestlé ferme une usine")]))
        feed_server.wait_for("/dead", timeout=30)  # that channel now hangs
        served = time.monotonic()
        feed_server.serve("/f.xml", rss([item(1, "Rien à signaler"),
                                         item(2, "Nestlé ferme une usine"),
                                         item(3, "Danone rachète une marque")]))
        [hook] = feed_server.wait_for("/hook", timeout=INTERVAL + 5)
        took = hook.at - served
        assert took <= INTERVAL + 5, took
        assert [m["title"] for m in json.loads(hook.body)["matches"]] == \
            ["Danone rachète une marque"]
        assert not feed_server.slow_done.is_set()  # type: ignore[attr-defined]
        # the other feed kept its rhythm while the slow one was downloading
        polls = [r.at for r in feed_server.requests("/f.xml")]
        gaps = [b - a for a, b in itertools.pairwise(polls)]
        assert len(polls) >= 3 and max(gaps) <= INTERVAL + 4, gaps
    finally:
        feed_server.release.set()
        stop(daemon)


def _changing_feed(n: int):
    counter = itertools.count()

    def route(request: Request):
        i = next(counter)
        items = [item(1000 * n + j, f"Nestlé, épisode {j} du fil {n}") for j in range(i, i + 5)]
        return 200, {"Content-Type": "application/rss+xml"}, rss(items).encode()
    return route


def test_cli_writers_beside_the_daemon_never_meet_a_locked_database(
        feed_server: FeedServer, workspace: Workspace):
    urls = []
    for n in range(12):
        feed_server.routes[f"/c{n}.xml"] = _changing_feed(n)
        urls.append(feed_server.url(f"/c{n}.xml"))
    workspace.config.write_text('database = "var/veille.db"\n[fetch]\ninterval = "1s"\n'
                                'timeout = "20s"\n')
    workspace.write_watchlists('[[watchlist]]\nname = "nestle"\nquery = "nestlé"\n'
                               'schedule = "daily 08:00"\n')
    workspace.write_feeds(urls)
    daemon = start(workspace, None)
    commands = [["feeds", "list"], ["digest", "--send"], ["watch", "backfill", "nestle"]]
    failures: list[str] = []
    runs = []

    def loop(args: list[str]) -> None:
        for _ in range(6):
            done = subprocess.run([sys.executable, "-m", "veille", "--config",
                                   str(workspace.config), *args],
                                  capture_output=True, text=True, timeout=120)
            runs.append(args)
            if done.returncode != 0 or "locked" in done.stderr or "Traceback" in done.stderr:
                failures.append(f"{args}: {done.returncode} {done.stderr}")

    try:
        feed_server.wait_for("/c0.xml", count=2, timeout=60)
        threads = [threading.Thread(target=loop, args=(c,)) for c in commands]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        polls_during = sum(len(feed_server.requests(f"/c{n}.xml")) for n in range(12))
    finally:
        log = stop(daemon)
    assert len(runs) == 18 and failures == [], failures
    assert polls_during > 24  # the daemon really was writing all along
    assert "locked" not in log, log
    feeds = json.loads(workspace.run("feeds", "list", "--format", "json").stdout)
    assert [f for f in feeds if f["error_kind"] == "internal"] == [], feeds
    assert [f for f in feeds if f["error_kind"]] == [], feeds


def test_ticks_are_at_least_a_second_apart_and_skip_feeds_in_flight():
    """Feeds spread over the interval must not mean a tick, and a read of every feed, every
    few milliseconds; a feed in flight is not started twice."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from veille.models import FeedState, PassSummary
    from veille.poller import MIN_GAP, Poller
    from veille.schedule import is_due

    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    feeds = [FeedState(f"https://f{i}", next_due=now + timedelta(milliseconds=10 * i))
             for i in range(50)]
    feeds[0] = FeedState("https://f0", next_due=now)
    ticks: list[datetime] = []
    started: list[list[str]] = []
    hold = asyncio.Event()

    async def run_batch(batch, on_done) -> PassSummary:
        started.append([f.url for f in batch])
        await hold.wait()
        return PassSummary()

    async def scenario() -> None:
        poller = Poller(lambda at: [f for f in feeds if is_due(f, at)],
                        lambda at: min((f.next_due for f in feeds if f.next_due > at),
                                       default=None),
                        lambda url: None, run_batch, ticks.append,
                        lambda o: None, lambda s: None, lambda: now)
        assert poller.tick() == 1
        await asyncio.sleep(0)
        assert poller.tick() == 0  # f0 is in flight: not started twice
        hold.set()
        await asyncio.gather(*poller.batches)

    asyncio.run(scenario())
    assert started == [["https://f0"]]
    assert ticks and all(t >= now + MIN_GAP for t in ticks)
