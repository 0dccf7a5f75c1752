"""Instant deliveries, outside the poll: one worker per channel.

A feed that stored new matches, or a queued alert (spike, feed health), wakes the workers;
each sends what is pending for the instant watchlists to its own channel, the alerts queued
for it, then the failed batches whose backoff has passed. A channel
that hangs holds only its own worker, never the poll nor the other channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from .notices import NoticeBox, NoticeOutcome
from .outbox import DeliveryOutcome, Outbox

log = logging.getLogger("veille")


class Dispatcher:
    def __init__(self, outbox: Callable[[], Outbox | None], instant: Callable[[], list[str]],
                 report: Callable[[list[DeliveryOutcome]], None],
                 notices: Callable[[], NoticeBox | None] = lambda: None,
                 report_notices: Callable[[list[NoticeOutcome]], None] = lambda o: None
                 ) -> None:
        self._outbox = outbox
        self._notices = notices
        self._report_notices = report_notices
        self._instant = instant
        self._report = report
        self._wakeups: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    def wake(self, channels: Iterable[str] | None = None) -> None:
        """Ask the workers of these channels (default: all) to look for work now."""
        outbox = self._outbox()
        if outbox is None or self._closing:
            return
        for channel in (outbox.channels if channels is None else channels):
            if channel not in self._workers:
                self._wakeups[channel] = asyncio.Event()
                self._workers[channel] = asyncio.get_running_loop().create_task(
                    self._work(channel), name=f"deliver:{channel}")
            self._wakeups[channel].set()

    async def _work(self, channel: str) -> None:
        wakeup = self._wakeups[channel]
        while True:
            await wakeup.wait()
            wakeup.clear()
            outbox = self._outbox()
            if self._closing:
                return
            if outbox is None or channel not in outbox.channels:
                continue
            try:
                outcomes = await outbox.deliver(self._instant(), [channel], due_only=True)
                notices = self._notices()
                if notices is not None:
                    self._report_notices(await notices.send_due(channel))
                outcomes += await outbox.retry_due([channel])
                self._report(outcomes)
            except Exception:  # a bug costs one round of this channel, not its worker
                log.exception("delivery to %s failed unexpectedly", channel)

    async def close(self, grace: float) -> None:
        """Workers stop after the send they are in, given `grace` seconds; idle ones at once."""
        self._closing = True
        for wakeup in self._wakeups.values():
            wakeup.set()
        await settle(self._workers.values(), grace)
        self._workers.clear()


async def settle(tasks: Iterable[asyncio.Task[Any]], grace: float) -> None:
    """Let `tasks` finish within `grace` seconds, then cancel those still running."""
    tasks = list(tasks)
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*late, return_exceptions=True)
