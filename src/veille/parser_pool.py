"""Worker processes that parse feeds, and heal: a crashed or hung worker costs one feed, never
the watch. And no workers while parsing in the process is enough.

Given an `inline` parser (parse.parse_fast_only), a body goes first where parse_route.route
says: a thread of the daemon's own process for a small backlog of bodies the fast reader
takes, the workers for the rest. The workers start at the first body routed to them and
stop after POOL_IDLE seconds without one, so a daemon whose rounds change a few feeds
holds no parser process between them.

The workers (parse_workers.py), like a `ProcessPoolExecutor`, are broken for good when one
dies (a segfault in a C extension, the OOM killer): every later submit raises
`BrokenProcessPool`. And a parse that never returns holds a worker forever. So the pool is
replaced when it breaks (the feed is retried once on the new one), and each parse has a time
bound after which its workers are killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from .models import ParsedFeed
from .outcomes import ErrorKind
from .parse_failure import ParseFailure
from .parse_route import INLINE_WINDOW, BusyMeter, Load, Route, route
from .parse_workers import ParseWorkers
from .parser_id import PARSER_ID

log = logging.getLogger("veille")


class ParseFunc(Protocol):
    """parse.parse_feed's shape (`known` is only passed when there is something known)."""

    def __call__(self, url: str, body: bytes, headers: dict[str, str], /, *,
                 known: Mapping[str, str] = ...) -> ParsedFeed | ParseFailure:
        ...


class InlineFunc(Protocol):
    """parse.parse_fast_only's shape: None for a document it leaves to the full parser."""

    def __call__(self, url: str, body: bytes, headers: dict[str, str], /, *,
                 known: Mapping[str, str] = ...) -> ParsedFeed | ParseFailure | None:
        ...


def parse_feed(url: str, body: bytes, headers: dict[str, str], /, *,
               known: Mapping[str, str] | None = None) -> ParsedFeed | ParseFailure:
    """parse.parse_feed, imported on the first body: a pass where nothing changed parses
    nothing, and need not load feedparser, lxml and nh3 to find that out."""
    from .parse import parse_feed as parse

    return parse(url, body, headers) if known is None else parse(url, body, headers, known=known)


#: either, with `known` bound
BoundParse = Callable[[str, bytes, dict[str, str]], "ParsedFeed | ParseFailure"]
BoundInline = Callable[[str, bytes, dict[str, str]], "ParsedFeed | ParseFailure | None"]

#: Seconds without a body for the workers after which they are stopped (the daemon's rounds
#: after the first poll seldom need them; their memory is better given back meanwhile).
POOL_IDLE = 60.0
#: Parses in flight per worker: one parsing, the others queued in the executor behind it.
#: The executor hands a worker its next body by itself, but each body reaches the executor
#: from the event loop, and a saturated loop (a first poll storing thousands of entries, whose
#: turns last tens to hundreds of ms) takes about a second to answer a parse and submit the
#: next: with 8 in flight the worker idled nine tenths of a first poll. A parse that hangs is
#: killed with its pool after the time bound (which the parses queued before it count
#: against: 64 feeds are about a second); the ones queued behind it are retried on the new
#: pool.
PER_WORKER = 64


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ParserTrouble:
    """A parse that failed because of the parser process, not the feed."""

    kind: ErrorKind
    message: str


def _timed(inline: BoundInline, url: str, body: bytes, headers: dict[str, str]
           ) -> tuple[ParsedFeed | ParseFailure | None, float]:
    """The inline parse and the CPU its thread spent on it."""
    start = time.thread_time()
    found = inline(url, body, headers)
    return found, time.thread_time() - start


class ParserPool:
    """Parses off the event loop, on every core, fed with bytes so downloads go on meanwhile.

    `on_event(kind)` is called once per pool replacement (parser_crash or parse_timeout),
    so that the daemon can count them for `status`. Without `inline`, every body goes to the
    workers (and they live until `close`).
    """

    def __init__(self, workers: int | None = None, timeout: float = 60.0,
                 parse: ParseFunc = parse_feed,
                 on_event: Callable[[ErrorKind], None] | None = None,
                 inline: InlineFunc | None = None, idle: float = POOL_IDLE,
                 worker_init: Callable[[Any], object] | None = None) -> None:
        self.cores = usable_cores()
        # with an inline lane, the daemon's own process is one more parser: one worker fewer
        self.workers = workers or (max(1, self.cores - 1) if inline else self.cores)
        self.timeout = timeout
        self._parse = parse
        self._on_event = on_event
        self._inline = inline
        self._idle = idle
        self._worker_init = worker_init
        self._worker_state: tuple[str, object] | None = None  # see prepare_with
        self._executor: ParseWorkers | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._inline_bytes = 0  # bodies queued in or parsed by the inline lane
        self._inline_done: deque[tuple[float, int]] = deque()  # (monotonic, size) of its parses
        self._inline_recent = 0  # the sum of those sizes
        self._inline_cpu = 0.0  # thread CPU seconds the inline lane has used, in all
        self._busy = BusyMeter()
        self._expected = 0  # bodies the passes running are sure to bring (see `expect`)
        self._pool_busy = 0  # parses submitted to the workers, not yet answered
        self._idle_timer: asyncio.TimerHandle | None = None
        self.crashes = 0
        self.timeouts = 0
        self.routed = {Route.INLINE: 0, Route.POOL: 0}  # bodies each lane parsed (diagnostics)

    def _pool(self) -> ParseWorkers:
        if self._executor is None:
            # child interpreters started afresh, not forked: the daemon has threads
            # (APScheduler, sqlite), and forking a threaded process can deadlock the child;
            # each imports only the parser (parse_workers.py)
            init, state = self._worker_init, self._worker_state
            if init is not None and state is not None:
                self._executor = ParseWorkers(self.workers, init, (state[1],))
            else:
                self._executor = ParseWorkers(self.workers)
        return self._executor

    def prepare_with(self, key: str, state: object) -> None:
        """The state workers start with (`worker_init(state)`: the watchlists they match
        with, prepare.py), told apart by `key`. Workers started with another are retired: the
        parses they hold finish there, the next ones go to new workers."""
        if self._worker_state is not None and self._worker_state[0] == key:
            return
        self._worker_state = (key, state)
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.shutdown(wait=False)

    def worker_pids(self) -> list[int]:
        """The live workers' process ids (for tests that kill one, and for diagnostics)."""
        return list(self._executor.pids()) if self._executor is not None else []

    def expect(self, bodies: int) -> None:
        """`bodies` more bodies are sure to come (a pass starting with feeds never fetched), or
        fewer when negative (each such feed done). Passes that overlap (the daemon's, one per
        tick) add up; each takes back what it added."""
        self._expected = max(0, self._expected + bodies)

    def load(self, body_size: int) -> Load:
        now = time.monotonic()
        while self._inline_done and self._inline_done[0][0] < now - INLINE_WINDOW:
            self._inline_recent -= self._inline_done.popleft()[1]
        busy, share = self._busy.sample(now, time.process_time(), self._inline_cpu)
        return Load(body_size, self._inline_bytes, self._executor is not None, self._pool_busy,
                    self.workers * PER_WORKER, self.cores, self._inline_recent, busy, share,
                    self._expected)

    async def parse(self, url: str, body: bytes, headers: dict[str, str],
                    known: Mapping[str, str] | None = None
                    ) -> ParsedFeed | ParseFailure | ParserTrouble:
        """`known`: the fingerprints of the feed's stored items (entry_fingerprint.py), for
        the parser to leave those items unread."""
        lane = route(self.load(len(body)))
        if self._inline is not None and lane == Route.INLINE:
            inline = partial(self._inline, known=known) if known else self._inline
            found = await self._parse_inline(inline, url, body, headers)
            if found is not None:
                self.routed[Route.INLINE] += 1
                return found
            # the fast reader declined it: feedparser, in a worker that can be killed
        self.routed[Route.POOL] += 1
        self._pool_busy += 1
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            if self._slots is None:
                # no more parses submitted than PER_WORKER per worker: the time bound then
                # measures the parse and the few queued before it, not the whole queue in
                # front of it (a first poll of 10,000 feeds queues for minutes)
                self._slots = asyncio.Semaphore(self.workers * PER_WORKER)
            async with self._slots:
                parse = partial(self._parse, known=known) if known else self._parse
                return await self._parse_bounded(parse, url, body, headers)
        finally:
            self._pool_busy -= 1
            if self._pool_busy == 0 and self._inline is not None:
                self._idle_timer = asyncio.get_running_loop().call_later(
                    self._idle, self._stop_idle)

    async def _parse_inline(self, inline: BoundInline, url: str, body: bytes,
                            headers: dict[str, str]) -> ParsedFeed | ParseFailure | None:
        """One thread, so one body at a time: the lane is a queue, and the event loop keeps
        the interpreter between two of its steps."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="veille-parse")
        self._inline_bytes += len(body)
        try:
            found, cpu = await asyncio.get_running_loop().run_in_executor(
                self._thread, _timed, inline, url, body, headers)
            self._inline_cpu += cpu
        finally:
            self._inline_bytes -= len(body)
            self._inline_done.append((time.monotonic(), len(body)))
            self._inline_recent += len(body)
        if isinstance(found, ParsedFeed) and not found.parser:
            found = replace(found, parser=PARSER_ID)
        return found

    def _stop_idle(self) -> None:
        """The workers, unused for `idle` seconds, are stopped (started again when needed)."""
        self._idle_timer = None
        if self._pool_busy == 0 and self._executor is not None:
            executor, self._executor = self._executor, None
            log.debug("parser workers idle for %gs: stopped", self._idle)
            executor.shutdown(wait=False, cancel_futures=True)

    async def _parse_bounded(self, parse: BoundParse, url: str, body: bytes,
                             headers: dict[str, str]
                             ) -> ParsedFeed | ParseFailure | ParserTrouble:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            executor = self._pool()
            try:
                try:
                    future = loop.run_in_executor(executor, parse, url, body, headers)
                except (OSError, RuntimeError) as e:
                    # submitting to a pool that is breaking can fail while starting a worker
                    # (its queues are being closed: EBADF) or after its shutdown: the same case
                    raise BrokenProcessPool(str(e)) from e
                parsed = await asyncio.wait_for(future, self.timeout)
                if isinstance(parsed, ParsedFeed) and not parsed.parser:
                    parsed = replace(parsed, parser=PARSER_ID)
                return parsed
            except BrokenProcessPool:
                # the survivors are killed too: a worker killed while it held the call queue's
                # lock leaves them blocked on it for ever, and the executor's thread joining
                # them would then hang the process at exit
                self._replace(executor, ErrorKind.PARSER_CRASH,
                              "a parser process died; its pool was replaced", kill=True)
                if attempt == 2:
                    return ParserTrouble(ErrorKind.PARSER_CRASH, "the parser process crashed on this "
                                         "feed twice; it will be retried at the next poll")
            except TimeoutError:
                if self._executor is not executor and attempt == 1:
                    # the pool was killed for a parse that hung before this one, which was
                    # queued behind it (its time bound counts from its submission): again
                    continue
                self._replace(executor, ErrorKind.PARSE_TIMEOUT,
                              f"a parse took over {self.timeout:g}s ({url}); its workers were "
                              "killed and the pool replaced", kill=True)
                return ParserTrouble(ErrorKind.PARSE_TIMEOUT, f"parsing took longer than "
                                     f"{self.timeout:g}s; the parser was restarted")
        raise AssertionError("unreachable")

    def _replace(self, executor: ParseWorkers, kind: ErrorKind, message: str,
                 kill: bool = False) -> None:
        """Drop `executor` once, however many parses saw it fail: one log line per event."""
        if self._executor is not executor:
            return  # another parse already replaced it
        self._executor = None
        if kill:
            executor.kill()
        with contextlib.suppress(Exception):
            executor.shutdown(wait=False, cancel_futures=True)
        if kind == ErrorKind.PARSE_TIMEOUT:
            self.timeouts += 1
        else:
            self.crashes += 1
        log.error("%s", message)
        if self._on_event is not None:
            self._on_event(kind)

    def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
            self._thread = None
