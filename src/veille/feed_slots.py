"""The places that overlapping passes share (the daemon starts one pass per tick).

A first round starts dozens of passes; each holding its own places, their bodies piled up
waiting for the parser (10,000 feeds: 270 MB where one bound gives 195 MB). One bound over
all passes fixes that, but a feed waiting for a connection to its host would hold a place
too, and a few hundred feeds of one slow or dead host would keep every other feed waiting.
So a feed takes its host's turn first (at most `per_host` of one host, as the fetcher
allows), then one of the `total` places: what waits behind a host holds nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit


class FeedSlots:
    def __init__(self, total: int, per_host: int) -> None:
        self.per_host = per_host
        self._places = asyncio.Semaphore(total)
        # host -> (its turns, feeds waiting for or holding one): dropped when none is left,
        # so that a daemon watching 10,000 hosts keeps only those in flight
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def feed(self, url: str) -> AsyncIterator[None]:
        host = urlsplit(url).netloc.lower()
        turns, users = self._hosts.get(host) or (asyncio.Semaphore(self.per_host), 0)
        self._hosts[host] = (turns, users + 1)
        try:
            async with turns, self._places:
                yield
        finally:
            turns, users = self._hosts[host]
            if users == 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (turns, users - 1)

    def hosts(self) -> int:
        """Hosts with a feed waiting or in flight."""
        return len(self._hosts)
