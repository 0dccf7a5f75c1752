"""Fetch states written in batches: an unchanged or failed feed costs a row, not a commit.

A pass over feeds that did not change is all state writes (new ETag, next due time). One
transaction each made them the largest CPU cost of such a pass; here the states of the feeds
finishing within `delay` (or `size` of them) are written in one transaction. A feed's poll is
done only once its state is committed: the poller reads the next due time from the store,
and a feed reported done with its old state would be polled again at once.

A feed with new entries does not come here: its entries, matches and state commit together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from .models import FeedState


class StateWriter(Protocol):
    def save_states(self, states: Iterable[FeedState]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...


class StateBatch:
    def __init__(self, store: StateWriter, delay: float = 0.05, size: int = 500) -> None:
        self.store = store
        self.delay = delay
        self.size = size
        self._pending: list[FeedState] = []
        self._done: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def save(self, state: FeedState) -> None:
        """Returns once `state` is committed; raises what the write raised."""
        loop = asyncio.get_running_loop()
        if self._done is None:
            self._done = loop.create_future()
            self._timer = loop.call_later(self.delay, self.flush)
        done = self._done
        self._pending.append(state)
        if len(self._pending) >= self.size:
            self.flush()
        # shielded: a cancelled waiter must not cancel the others' write
        await asyncio.shield(done)

    def flush(self) -> None:
        """Write what is pending now, in one transaction."""
        pending, done, self._pending, self._done = self._pending, self._done, [], None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if done is None or done.done():
            return
        try:
            with self.store.transaction():
                self.store.save_states(pending)
        except Exception as e:
            done.set_exception(e)
            return
        done.set_result(None)
