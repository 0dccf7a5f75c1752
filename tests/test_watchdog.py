"""WATCHDOG=1 goes out only while the daemon makes progress, so systemd restarts a daemon that
is alive but stuck."""

from __future__ import annotations

import asyncio
import io
import os

from veille.daemon import Daemon
from veille.watchdog import Watchdog

from .conftest import Workspace
from .notify_socket import NotifySocket

PING = "WATCHDOG=1"


def test_a_ping_needs_fresh_progress_a_database_and_no_stalled_poll():
    dog = Watchdog(stall_after=100)
    assert not dog.should_ping(True, None)  # nothing happened yet
    dog.made_progress()
    assert not dog.should_ping(False, None)  # the database does not answer
    assert not dog.should_ping(True, 101)  # one poll has run past every bound
    assert dog.should_ping(True, 99)
    assert not dog.should_ping(True, None)  # no progress since that ping
    dog.made_progress()
    assert dog.should_ping(True, None)


def test_a_scheduler_that_stops_firing_jobs_stops_the_pings(workspace: Workspace, tmp_path):
    pings = NotifySocket(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "400000"}  # a ping every 0.2 s, a heartbeat every 0.1 s
    daemon = Daemon(workspace.config, env, io.StringIO())

    async def scenario() -> None:
        running = asyncio.create_task(daemon.run())
        await asyncio.to_thread(pings.wait_for, PING, 30, 3)
        assert daemon.scheduler is not None
        daemon.scheduler.pause()  # alive, but no job fires any more
        await asyncio.sleep(0.5)  # the ping already decided may still go out
        stalled_from = pings.count(PING)
        await asyncio.sleep(2.0)  # ten ping periods
        assert pings.count(PING) == stalled_from, "pinged while nothing progressed"
        daemon.scheduler.resume()
        await asyncio.to_thread(pings.wait_for, PING, 30, stalled_from + 2)
        daemon.stopping.set()
        assert await running == 0

    asyncio.run(scenario())
    pings.close()
