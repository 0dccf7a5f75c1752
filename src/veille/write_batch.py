"""Writes of many feeds in one transaction: a feed costs its rows, not a commit.

A commit is the largest fixed cost of storing a feed (about 1.5 ms of CPU: the WAL frames of
every page touched, the checkpoints), so the writes of the feeds finishing within `delay`
share one:
- the fetch states of unchanged and failed feeds (a new ETag, the next due time), written
  together with one statement;
- the writes of feeds with new entries (`run(job)`): each job runs in its own savepoint, so a
  feed's entries, matches, stories and state still commit together or not at all, and a job
  that fails rolls back alone while the others commit.

A feed's poll is done only once its writes are committed: the poller reads the next due time
from the store, and a feed reported done with its old state would be polled again at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from .models import FeedState
from .store import Store

T = TypeVar("T")


class WriteBatch:
    def __init__(self, store: Store, delay: float = 0.05, size: int = 500, jobs: int = 32
                 ) -> None:
        self.store = store
        self.delay = delay
        self.size = size  # states per transaction
        self.jobs = jobs  # feeds with entries per transaction: the write lock is held while
        # they run (about 5 ms each), and other writers (the CLI, deliveries) wait that long
        self._states: list[FeedState] = []
        self._jobs: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._done: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def _batch(self) -> asyncio.Future[None]:
        """The commit of the batch being filled, started if none is."""
        if self._done is None:
            loop = asyncio.get_running_loop()
            self._done = loop.create_future()
            self._timer = loop.call_later(self.delay, self.flush)
        return self._done

    async def save(self, state: FeedState) -> None:
        """Returns once `state` is committed; raises what the write raised."""
        done = self._batch()
        self._states.append(state)
        if len(self._states) >= self.size:
            self.flush()
        # shielded: a cancelled waiter must not cancel the others' write
        await asyncio.shield(done)

    async def run(self, job: Callable[[], T]) -> T:
        """Runs `job` (store writes, no I/O of its own) in the next transaction; returns its
        result once committed, or raises what it or the commit raised."""
        done = self._batch()
        result: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.append((job, result))
        if len(self._jobs) >= self.jobs:
            self.flush()
        await asyncio.shield(done)
        return result.result()

    def flush(self) -> None:
        """Write what is pending now, in one transaction."""
        states, jobs, done = self._states, self._jobs, self._done
        self._states, self._jobs, self._done = [], [], None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if done is None or done.done():
            return
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self.store.transaction():
                if states:
                    self.store.save_states(states)
                for job, result in jobs:
                    outcomes.append((result, *self._attempt(job)))
        except Exception as e:
            done.set_exception(e)
            for _, result in jobs:
                result.cancel()  # never read: the waiters see the commit's error
            return
        for result, value, error in outcomes:
            if error is not None:
                result.set_exception(error)
            else:
                result.set_result(value)
        done.set_result(None)

    def _attempt(self, job: Callable[[], Any]) -> tuple[Any, BaseException | None]:
        """Run one job in its savepoint. An error that ended the whole transaction (SQLite
        rolls everything back on some, such as a full disk) fails the batch, not the job."""
        try:
            with self.store.transaction():
                return job(), None
        except Exception as e:
            if not self.store.db.conn.in_transaction:
                raise
            return None, e
