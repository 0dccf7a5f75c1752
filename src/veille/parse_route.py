"""Where a body is parsed: in the daemon's own process (a thread beside the event loop), or in
a worker process. A pure decision on numbers, so that it is tested without processes.

Worker processes cost a start (a forkserver and one interpreter per worker, a second or so
of CPU on a loaded machine) and their memory (tens of MB each) for as long as they live.
The fast reader parses a plain 25-entry feed in about 3 ms, so a pass where a few feeds
changed is done inline long before a pool would have started; only a lot of parsing (a
first poll of thousands of feeds) gains from parsing on every core. A lot is either a
backlog of bodies waiting for the inline lane, or a steady stream of them: parsing inline
shares the interpreter with the event loop, so the lane can keep up with the downloads
while the whole process runs on one core and the others idle.

The inline lane takes only what is cheap and bounded whatever the document says: bodies of
at most INLINE_MAX_BYTES, read by the fast reader (lxml without DTDs or entities, linear in
the body), in one thread so that the event loop keeps running. A document the fast reader
declines goes to feedparser in a worker, where a hung or crashing parse is killed (see
parser_pool.py): feedparser on hostile input is what the pool exists for.
"""

from __future__ import annotations

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
    pool_workers: int = 1
    cores: int = 1
    recent_inline_bytes: int = 0  # parsed inline within the last INLINE_WINDOW seconds


def route(load: Load) -> Route:
    """INLINE or POOL for one body (INLINE may still end in the pool: see parser_pool.py).

    - too large to be bounded inline: the pool;
    - a pool already started with an idle worker: use it (its start is paid, and it parses
      beside the event loop instead of sharing its interpreter);
    - one core: inline (a pool would parse no faster);
    - a steady stream of parsing: a worker, while one is idle (the pool starts for it);
    - a short inline backlog: inline;
    - else the backlog is worth a pool: start it, or queue there.
    """
    if load.body_size > INLINE_MAX_BYTES:
        return Route.POOL
    if load.pool_started and load.pool_busy < load.pool_workers:
        return Route.POOL
    if load.cores <= 1:
        return Route.INLINE
    if load.recent_inline_bytes > INLINE_RATE_BYTES and load.pool_busy < load.pool_workers:
        return Route.POOL
    if load.inline_bytes + load.body_size <= INLINE_BACKLOG_BYTES:
        return Route.INLINE
    return Route.POOL
