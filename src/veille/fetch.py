"""The HTTP edge: conditional GET of one feed with bounded time, size, redirects and concurrency.

Returns a FetchResult for every outcome a server or network can produce; only programming
errors escape. Decompression is done here, not by httpx, so that `max_size` bounds the
*decoded* body while it inflates: a 10 kB gzip bomb stops at the limit instead of at 10 GB.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import brotli
import httpx

from .address_guard import guarded_transport, is_private_refusal
from .config import FetchSettings
from .host_pools import LANE, HostPools, lanes_for
from .models import FetchResult
from .outcomes import ErrorKind, FetchStatus

ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/rdf+xml;q=0.9, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
#: A response body read to keep its connection alive (a 304's, an error page's) up to this size.
DRAIN_LIMIT = 64 * 1024
_KEPT_HEADERS = frozenset(("content-type", "content-location", "content-language", "etag",
                           "last-modified", "cache-control", "expires", "retry-after", "date",
                           "age", "link"))


@dataclass(frozen=True)
class FetchRequest:
    url: str  # the feed's identity (its OPML URL)
    fetch_url: str  # where to ask: the moved-to URL after a permanent redirect
    etag: str | None = None
    last_modified: str | None = None


class _TooLarge(Exception):
    pass


class _Decoder:
    """Incremental Content-Encoding decoder that never produces more than `limit` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._first = True
        elif encoding == "br":
            self._br = brotli.Decompressor()
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge
        if data:
            self.parts.append(data)

    def feed(self, data: bytes) -> None:
        if self.encoding in ("", "identity"):
            self._keep(data)
        elif self.encoding == "br":
            self._keep(self._br.process(data, output_buffer_limit=self.limit - self.size + 1))
            while not self._br.can_accept_more_data():
                self._keep(self._br.process(b"", output_buffer_limit=self.limit - self.size + 1))
        else:
            self._feed_zlib(data)

    def _feed_zlib(self, data: bytes) -> None:
        if self.encoding == "deflate" and self._first and data:
            self._first = False
            try:  # RFC 9110 says zlib-wrapped, but some servers send raw deflate
                probe = zlib.decompressobj()
                probe.decompress(data[:64])
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        while data:
            self._keep(self._z.decompress(data, self.limit - self.size + 1))
            data = self._z.unconsumed_tail

    def body(self) -> bytes:
        return b"".join(self.parts)


def _result_error(url: str, kind: ErrorKind, message: str, status: int | None = None,
                  headers: dict[str, str] | None = None) -> FetchResult:
    return FetchResult(url=url, status=FetchStatus.ERROR, http_status=status, error_kind=kind,
                       error_message=message, headers=headers or {})


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


class _HostSlots:
    """The `per_host` connection slots of one host; a request takes the lowest free one, so
    its lane (slot // lane size) is the busiest lane with room and keep-alive is reused."""

    def __init__(self, size: int) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.free = list(range(size))

    def take(self) -> int:
        return heapq.heappop(self.free)

    def give(self, slot: int) -> None:
        heapq.heappush(self.free, slot)


class Fetcher:
    """Fetches feeds through one httpx client routing to small pools per host (host_pools.py),
    bounded globally (`concurrency`) and per host (`per_host`).
    """

    def __init__(self, settings: FetchSettings,
                 transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        timeout = httpx.Timeout(settings.timeout, connect=min(settings.connect_timeout,
                                                              settings.timeout))
        lanes, self._lane_size = lanes_for(settings.per_host)
        ssl_context = httpx.create_ssl_context()  # once: building one costs ~40 ms

        def make_pool(size: int) -> httpx.AsyncBaseTransport:
            if transport is not None:
                return transport()
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            if not settings.allow_private:  # every connection checked (address_guard.py)
                return guarded_transport(limits, verify=ssl_context)
            return httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)

        # room for twice as many hosts as requests in flight: a pass over 50 hosts keeps its
        # connections; beyond, the least recently used idle pools (and their sockets) go
        self._pools = HostPools(make_pool, self._lane_size,
                                max_pools=max(64, 2 * settings.concurrency, lanes))
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={"User-Agent": settings.user_agent, "Accept": ACCEPT,
                     "Accept-Encoding": "gzip, deflate, br"},
            follow_redirects=False,
            transport=self._pools,
        )
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, _HostSlots] = {}
        # host -> monotonic time: next slot under host_delay / end of the host's Retry-After
        self._host_ready: dict[str, float] = {}
        self._host_blocked: dict[str, float] = {}
        self._clock = clock

    async def aclose(self) -> None:
        await self._client.aclose()

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
            slots = self._hosts[host] = _HostSlots(self.settings.per_host)
        # the host's slot first: a request waiting for its host holds no slot of the pass,
        # so a list with hundreds of feeds on one host does not stall the other hosts
        async with slots.semaphore, self._global:
            await self._wait_for_host(host)
            slot = slots.take()
            try:
                async with asyncio.timeout(self.settings.timeout):
                    return await self._fetch(request, slot // self._lane_size)
            except TimeoutError:
                return _result_error(request.url, ErrorKind.TIMEOUT,
                                     f"no complete answer within {self.settings.timeout:g}s")
            finally:
                slots.give(slot)

    async def _fetch(self, request: FetchRequest, lane: int) -> FetchResult:
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
                outcome = await self._get(lane, request.url, url, headers)
            except (httpx.HTTPError, httpx.InvalidURL) as e:
                return _result_error(request.url, _error_kind(e), _error_message(e))
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

    async def _get(self, lane: int, feed_url: str, url: str,
                   headers: dict[str, str]) -> FetchResult | tuple[int, str]:
        """One request: a result, or (status, Location) for a redirect to follow."""
        async with self._client.stream("GET", url, headers=headers,
                                       extensions={LANE: lane}) as response:
            # one walk over the headers (each `in` test decodes them all again)
            kept = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
            status = response.status_code
            if status < 200 or status >= 300:
                await _drain(response)
            if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                return status, response.headers["location"]
            if status == 304:
                return FetchResult(url=feed_url, status=FetchStatus.NOT_MODIFIED, http_status=304,
                                   headers=kept, final_url=url)
            if status == 410:
                return FetchResult(url=feed_url, status=FetchStatus.GONE, http_status=410,
                                   headers=kept, final_url=url, error_kind=ErrorKind.GONE,
                                   error_message="410 Gone: the feed was removed")
            if status >= 400 or status < 200:
                return _result_error(feed_url, ErrorKind.HTTP,
                                     f"HTTP {status} {response.reason_phrase}", status, kept)
            encoding = response.headers.get("content-encoding", "").strip().lower()
            try:
                decoder = _Decoder(encoding, self.settings.max_size)
                async for chunk in response.aiter_raw():
                    decoder.feed(chunk)
            except _TooLarge:
                return _result_error(feed_url, ErrorKind.TOO_LARGE,
                                     f"body larger than {self.settings.max_size} bytes", status)
            except (zlib.error, brotli.error, ValueError) as e:
                return _result_error(feed_url, ErrorKind.DECODING, f"cannot decode body: {e}",
                                     status)
            return FetchResult(url=feed_url, status=FetchStatus.OK, http_status=status,
                               body=decoder.body(), headers=kept, final_url=url)


async def _drain(response: httpx.Response) -> None:
    """Read a body we do not use (a 304's, a redirect's, an error page's) so that httpcore
    keeps the connection alive; closing a response unread discards its connection, and every
    unchanged feed then paid a new TCP and TLS handshake. A large body is not worth it."""
    size = 0
    with contextlib.suppress(httpx.HTTPError):  # the answer is complete without its body
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > DRAIN_LIMIT:
                return


def _with_move(result: FetchResult, moved_to: str | None, final_url: str) -> FetchResult:
    if moved_to is None:
        return result
    return replace(result, moved_to=moved_to, final_url=final_url)


def _error_kind(e: Exception) -> ErrorKind:
    if is_private_refusal(e):
        return ErrorKind.PRIVATE_ADDRESS
    if isinstance(e, httpx.TimeoutException):
        return ErrorKind.TIMEOUT
    if isinstance(e, httpx.ConnectError):
        return ErrorKind.CONNECT
    if isinstance(e, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ErrorKind.URL
    if isinstance(e, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return ErrorKind.PROTOCOL
    return ErrorKind.NETWORK


def _error_message(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return f"timed out ({type(e).__name__})" if _error_kind(e) is ErrorKind.TIMEOUT else text
