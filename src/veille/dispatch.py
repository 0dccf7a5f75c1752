"""Instant deliveries, outside the poll: one worker per channel.

A feed that stored new matches wakes the workers; each sends what is pending for the instant
watchlists to its own channel, then the failed batches whose backoff has passed. A channel
that hangs holds only its own worker, never the poll nor the other channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from .outbox import DeliveryOutcome, Outbox

log = logging.getLogger("veille")


class Dispatcher:
    def __init__(self, outbox: Callable[[], Outbox | None], instant: Callable[[], list[str]],
                 report: Callable[[list[DeliveryOutcome]], None]) -> None:
        self._outbox = outbox
        self._instant = instant
        self._report = report
        self._wakeups: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._busy: set[str] = set()

    def wake(self, channels: Iterable[str] | None = None) -> None:
        """Ask the workers of these channels (default: all) to look for work now."""
        outbox = self._outbox()
        if outbox is None:
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
            if outbox is None or channel not in outbox.channels:
                continue
            self._busy.add(channel)
            try:
                outcomes = await outbox.deliver(self._instant(), [channel], due_only=True)
                outcomes += await outbox.retry_due([channel])
                self._report(outcomes)
            except Exception:  # a bug costs one round of this channel, not its worker
                log.exception("delivery to %s failed unexpectedly", channel)
            finally:
                self._busy.discard(channel)

    async def close(self, grace: float) -> None:
        """Idle workers stop at once; busy ones get `grace` seconds to finish their send."""
        busy = [t for c, t in self._workers.items() if c in self._busy]
        for channel, task in self._workers.items():
            if channel not in self._busy:
                task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for task in self._workers.values():
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
