"""The HTTP edge: conditional GET of one feed with bounded time, size, redirects and concurrency.

Returns a FetchResult for every outcome a server or network can produce; only programming
errors escape. This module schedules (per-host and pass-wide slots, `host_delay`, Retry-After)
and follows redirects itself, hop by hop, so that each hop is counted, checked for loops and
for a permanent move, and connected through the address guard. The exchange on the wire is
fetch_http.py's (aiohttp, imported when a Fetcher is built: commands that fetch nothing do
not load it); decompression is body_decoder.py's, bounded by `max_size`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from .config import FetchSettings
from .models import FetchResult
from .outcomes import ErrorKind, FetchStatus

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True)
class FetchRequest:
    url: str  # the feed's identity (its OPML URL)
    fetch_url: str  # where to ask: the moved-to URL after a permanent redirect
    etag: str | None = None
    last_modified: str | None = None


def _result_error(url: str, kind: ErrorKind, message: str, status: int | None = None
                  ) -> FetchResult:
    return FetchResult(url=url, status=FetchStatus.ERROR, http_status=status, error_kind=kind,
                       error_message=message, headers={})


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


class Fetcher:
    """Fetches feeds through one aiohttp session (fetch_http.py), bounded globally
    (`concurrency`) and per host (`per_host`).

    `trace_configs` (aiohttp TraceConfig) lets a test watch requests as they go out.
    """

    def __init__(self, settings: FetchSettings,
                 trace_configs: list[aiohttp.TraceConfig] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from . import fetch_http  # aiohttp loads here, not with the CLI

        self.settings = settings
        self._http = fetch_http
        self._trace_configs = trace_configs
        self._session: aiohttp.ClientSession | None = None
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        # host -> monotonic time: next slot under host_delay / end of the host's Retry-After
        self._host_ready: dict[str, float] = {}
        self._host_blocked: dict[str, float] = {}
        self._clock = clock

    def _open(self) -> aiohttp.ClientSession:
        """The session, opened on first use: aiohttp binds it to the running loop."""
        if self._session is None:
            self._session = self._http.open_session(self.settings, self._trace_configs)
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def defer_host(self, host: str, seconds: float) -> None:
        """Hold every request to `host` for `seconds` (after a 429/503 with Retry-After)."""
        self._host_blocked[host] = max(self._host_blocked.get(host, 0.0),
                                       self._clock() + seconds)

    def host_wait(self, host: str) -> float:
        """Seconds before `host` may be asked again, as it told us with Retry-After."""
        return max(0.0, self._host_blocked.get(host, 0.0) - self._clock())

    async def _wait_for_host(self, host: str) -> None:
        """Keep `host_delay` between two requests to one host. Each request reserves its slot
        before it sleeps, so concurrent requests queue instead of waking together."""
        if not self.settings.host_delay:
            return
        now = self._clock()
        slot = max(now, self._host_ready.get(host, 0.0))
        self._host_ready[host] = slot + self.settings.host_delay
        if slot > now:
            await asyncio.sleep(slot - now)

    async def fetch(self, request: FetchRequest) -> FetchResult:
        host = _host(request.fetch_url)
        blocked = self.host_wait(host)
        if blocked > 0:
            # not a failure of this feed: the host asked everyone to wait; poll it after that
            return FetchResult(url=request.url, status=FetchStatus.DEFERRED,
                               headers={"retry-after": str(math.ceil(blocked))},
                               error_message=f"{host} asked to wait {math.ceil(blocked)}s")
        slots = self._hosts.get(host)
        if slots is None:
            slots = self._hosts[host] = asyncio.Semaphore(self.settings.per_host)
        # the host's slot first: a request waiting for its host holds no slot of the pass,
        # so a list with hundreds of feeds on one host does not stall the other hosts
        async with slots, self._global:
            await self._wait_for_host(host)
            try:
                async with asyncio.timeout(self.settings.timeout):
                    return await self._fetch(request)
            except TimeoutError:
                return _result_error(request.url, ErrorKind.TIMEOUT,
                                     f"no complete answer within {self.settings.timeout:g}s")

    async def _fetch(self, request: FetchRequest) -> FetchResult:
        session = self._open()
        url = request.fetch_url
        visited = {url}
        moved_to: str | None = None
        permanent_so_far = True
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        for _ in range(self.settings.max_redirects + 1):
            try:
                outcome = await self._http.get(session, self.settings, request.url, url, headers)
            except self._http.ExchangeFailed as e:
                return _result_error(request.url, e.kind, e.message)
            if isinstance(outcome, FetchResult):
                return _with_move(outcome, moved_to, url)
            status, location = outcome
            target = urljoin(url, location)
            if target in visited:
                return _result_error(request.url, ErrorKind.REDIRECT,
                                     f"redirect loop at {target}", status)
            visited.add(target)
            if permanent_so_far and status in (301, 308):
                moved_to = target
            else:
                permanent_so_far = False
            url = target
        return _result_error(request.url, ErrorKind.REDIRECT,
                             f"more than {self.settings.max_redirects} redirects")


def _with_move(result: FetchResult, moved_to: str | None, final_url: str) -> FetchResult:
    if moved_to is None:
        return result
    return replace(result, moved_to=moved_to, final_url=final_url)
