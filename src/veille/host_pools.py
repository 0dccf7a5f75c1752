"""Small connection pools per host, behind one httpx client.

httpx spends CPU per request in proportion to the size of the pool it schedules in (one pool
of 50 connections cost 8.5 s of CPU for 1,000 requests, five pools of 10 cost 1.1 s), and a
pool shared by hosts caps each of them at its size whatever `per_host` says. So each host
gets its own lanes: lane k of a host is a pool of at most LANE_SIZE connections, and a host
allowed `per_host` connections uses ceil(per_host / LANE_SIZE) lanes. The Fetcher says which
lane a request takes (the `LANE` request extension), so that a lane never holds more requests
than it has connections and keep-alive connections are reused lane by lane.

A pool closes its idle connections only when it is next used, so the pools of hosts not asked
for a while are closed once there are more than `max_pools`: a daemon watching 10,000 hosts
keeps a bounded number of sockets and a flat memory.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

import httpx

#: Connections in one lane: the small-pool size at which httpx's CPU per request stays low.
LANE_SIZE = 10
#: The request extension naming the lane (an int, 0 if absent).
LANE = "veille.lane"


def lanes_for(per_host: int) -> tuple[int, int]:
    """(number of lanes, connections per lane) for a host allowed `per_host` connections."""
    count = -(-per_host // LANE_SIZE)
    return count, -(-per_host // count)


class _Released(httpx.AsyncByteStream):
    """The body of a response; tells its pool when it is closed (the request is over)."""

    def __init__(self, inner: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._inner = inner
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._release()

    def _release(self) -> None:
        if self._done is not None:
            done, self._done = self._done, None
            done()


class HostPools(httpx.AsyncBaseTransport):
    """Routes each request to the pool of its (host, lane); `make_pool(size)` builds one."""

    def __init__(self, make_pool: Callable[[int], httpx.AsyncBaseTransport], lane_size: int,
                 max_pools: int) -> None:
        self._make_pool = make_pool
        self._lane_size = lane_size
        self._max_pools = max(1, max_pools)
        self._pools: OrderedDict[tuple[str, int], httpx.AsyncBaseTransport] = OrderedDict()
        self._busy: dict[tuple[str, int], int] = {}

    def __len__(self) -> int:
        return len(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.host, int(request.extensions.get(LANE, 0)))
        pool = self._pools.get(key)
        if pool is None:
            evicted = self._evict_idle()  # taken out before any await: no double pool per key
            pool = self._pools[key] = self._make_pool(self._lane_size)
            for old in evicted:
                with contextlib.suppress(Exception):
                    await old.aclose()
        else:
            self._pools.move_to_end(key)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._release(key)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_Released(response.stream, lambda: self._release(key)),
                              extensions=response.extensions)

    def _release(self, key: tuple[str, int]) -> None:
        left = self._busy.get(key, 1) - 1
        if left:
            self._busy[key] = left
        else:
            self._busy.pop(key, None)

    def _evict_idle(self) -> list[httpx.AsyncBaseTransport]:
        """Take out the least recently used idle pools while there are too many (to close)."""
        excess = len(self._pools) + 1 - self._max_pools
        if excess <= 0:
            return []
        idle = [k for k in self._pools if k not in self._busy][:excess]
        return [self._pools.pop(k) for k in idle]

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            with contextlib.suppress(Exception):
                await pool.aclose()
