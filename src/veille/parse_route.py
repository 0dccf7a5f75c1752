"""Where a body is parsed: in the daemon's own process (a thread beside the event loop), or in
a worker process. A pure decision on numbers, so that it is tested without processes.

Worker processes cost a start (one interpreter per worker, importing the parser: a second or so
of CPU on a loaded machine) and their memory (tens of MB each) for as long as they live.
The fast reader parses a plain 25-entry feed in about 3 ms, so a pass where a few feeds
changed is done inline long before a pool would have started; only a lot of parsing (a
first poll of thousands of feeds) gains from parsing on every core. A lot is a first poll
(the pass says how many of its feeds were never fetched), a backlog of bodies waiting for
the inline lane, a steady stream of them, or a process saturated while parsing is a fair
share of its work: parsing inline shares the interpreter with the event loop, so the lane
can keep up with the downloads while the whole process runs on one core and the others
idle.

The inline lane takes only what is cheap and bounded whatever the document says: bodies of
at most INLINE_MAX_BYTES, read by the fast reader (lxml without DTDs or entities, linear in
the body), in one thread so that the event loop keeps running. A document the fast reader
declines goes to feedparser in a worker, where a hung or crashing parse is killed (see
parser_pool.py): feedparser on hostile input is what the pool exists for.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

#: Bodies above this are never parsed inline: at ~3 ms per 70 kB, half a megabyte is ~25 ms
#: of work in the daemon's process, the longest the inline lane holds any one body.
INLINE_MAX_BYTES = 512 * 1024
#: Bytes waiting in (or being parsed by) the inline lane above which the pool is worth its
#: start: ~4 MB is some 60 feeds, a fifth of a second to a second of parsing.
INLINE_BACKLOG_BYTES = 4 * 1024 * 1024
#: Bytes parsed inline within the last INLINE_WINDOW seconds above which parsing is a steady
#: load worth a worker: 16 MB is some 230 feeds, one to two seconds of CPU in ten. A daemon
#: round where 1 % of 10,000 feeds changed parses 7 MB over the whole round.
INLINE_RATE_BYTES = 16 * 1024 * 1024
INLINE_WINDOW = 10.0
#: Share of one core the whole process used over the last BUSY_WINDOW seconds above which it
#: is saturated: its interpreter (one core at most, whatever its threads) is what every feed
#: waits for. A first poll stores, matches and groups entries at the same time as it parses:
#: the downloads then outpace the process, the inline backlog never builds, and the parse
#: rate stays under INLINE_RATE_BYTES while the other cores idle.
BUSY_SHARE = 0.8
#: ...and of the wall time, the share the inline lane spent parsing above which moving its
#: work to a worker relieves the process (a saturated daemon that parses little gains nothing),
#: once it has parsed INLINE_BACKLOG_BYTES within INLINE_WINDOW: a pass where a hundred feeds
#: changed (2 MB) is over before a worker would have started and paid its memory back.
PARSE_SHARE = 0.1
BUSY_WINDOW = 2.0
#: Bodies a pass is sure to parse (feeds never fetched: a first poll) from which the pool
#: starts at once: ~100 bodies are half a second of parsing or more, what a worker's start
#: costs, and a first poll stores and matches every entry besides, so the process saturates
#: whatever share of a core the machine gives it.
EXPECTED_BODIES = 100


class Route(StrEnum):
    INLINE = "inline"
    POOL = "pool"


@dataclass(frozen=True)
class Load:
    """What the parser has on its hands when a body arrives."""

    body_size: int
    inline_bytes: int = 0  # bodies queued in, or being parsed by, the inline lane
    pool_started: bool = False
    pool_busy: int = 0  # parses submitted to the pool and not yet answered
    pool_slots: int = 1  # parses the pool takes at once (parser_pool.PER_WORKER per worker)
    cores: int = 1
    recent_inline_bytes: int = 0  # parsed inline within the last INLINE_WINDOW seconds
    process_busy: float = 0.0  # CPU of the whole process per wall second, lately (BUSY_WINDOW)
    parse_share: float = 0.0  # CPU of the inline lane per wall second, over the same window
    expected: int = 0  # bodies the pass is sure are still to come (its never-fetched feeds)


def route(load: Load) -> Route:
    """INLINE or POOL for one body (INLINE may still end in the pool: see parser_pool.py).

    - too large to be bounded inline: the pool;
    - a pool already started with a free slot: use it (its start is paid, it parses beside
      the event loop instead of sharing its interpreter, and a body a worker parses costs the
      process ~1 ms, the answer's unpickling, against ~7 ms inline);
    - a started pool with its slots full while the process is saturated, or in a first poll
      (which saturates it): queue there (the workers have a backlog; parsing the overflow
      inline would slow the process everything waits for: a first poll of 1,000 feeds took
      14.0 s so, 12.1 s queued);
    - one core: inline (a pool would parse no faster);
    - a pass sure to parse EXPECTED_BODIES more: the pool, while it has a free slot (it starts
      for them);
    - a steady stream of parsing, or a saturated process that spends a fair share of its time
      parsing: the pool, while it has a free slot (it starts for it);
    - a short inline backlog: inline;
    - else the backlog is worth a pool: start it, or queue there.
    """
    if load.body_size > INLINE_MAX_BYTES:
        return Route.POOL
    free = load.pool_busy < load.pool_slots
    if load.pool_started and (free or load.process_busy >= BUSY_SHARE
                              or load.expected >= EXPECTED_BODIES):
        return Route.POOL
    if load.cores <= 1:
        return Route.INLINE
    if free and (load.expected >= EXPECTED_BODIES
                 or load.recent_inline_bytes > INLINE_RATE_BYTES
                 or load.process_busy >= BUSY_SHARE and load.parse_share >= PARSE_SHARE
                 and load.recent_inline_bytes >= INLINE_BACKLOG_BYTES):
        return Route.POOL
    if load.inline_bytes + load.body_size <= INLINE_BACKLOG_BYTES:
        return Route.INLINE
    return Route.POOL


class BusyMeter:
    """How busy the process is lately: its CPU and its inline lane's per wall second over
    about BUSY_WINDOW seconds, from samples of the clocks taken as bodies arrive (a few a
    second are kept). Zeros until half a window has been seen."""

    def __init__(self) -> None:
        self._marks: deque[tuple[float, float, float]] = deque()  # (wall, CPU, inline CPU)

    def sample(self, now: float, cpu: float, inline_cpu: float) -> tuple[float, float]:
        marks = self._marks
        if not marks or now - marks[-1][0] >= BUSY_WINDOW / 10:
            marks.append((now, cpu, inline_cpu))
        while len(marks) > 1 and marks[1][0] <= now - BUSY_WINDOW:
            marks.popleft()
        then, cpu_then, inline_then = marks[0]
        span = now - then
        if span < BUSY_WINDOW / 2:
            return 0.0, 0.0
        return (cpu - cpu_then) / span, (inline_cpu - inline_then) / span
