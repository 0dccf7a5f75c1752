"""The wire side of the Fetcher: one aiohttp session, and one GET turned into an outcome.

aiohttp rather than httpx on this path because it is the hot loop of a pass: an unchanged
feed (a 304) cost 1.5-1.7 ms of CPU through httpx, even with small per-host pools, and about
0.4 ms through aiohttp. httpx stays for webhooks and the WebSub agent. This module is imported
by the Fetcher when it is built, so commands that fetch nothing never load aiohttp.

Connections: `per_host` per host (connector `limit_per_host`), `concurrency` in all; idle
keep-alive connections are reused, closed after KEEPALIVE seconds, and kept for at most
`max(MIN_IDLE_HOSTS, 2 * concurrency)` hosts (the least recently used beyond are closed), so a
daemon watching 10,000 hosts holds a bounded number of sockets.

Proxies: with `allow_private = false` the proxy environment variables are ignored (the guard
would only ever see the proxy's address). Otherwise they are honoured (aiohttp `trust_env`)
when one is set (aiohttp then also sends ~/.netrc credentials); with none set, trust_env
stays off, as it reads ~/.netrc on every request.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import urllib.request
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from .address_guard import cause
from .address_resolver import GuardedResolver, PrivateAddressRefused, refuse_internal_literal
from .body_decoder import DECODE_ERRORS, BodyDecoder, TooLarge
from .config import FetchSettings
from .models import FetchResult
from .outcomes import ErrorKind, FetchStatus

ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/rdf+xml;q=0.9, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
#: A response body read to keep its connection alive (a 304's, an error page's) up to this size.
DRAIN_LIMIT = 64 * 1024
#: Seconds an idle keep-alive connection is kept (aiohttp retries a GET once if the server
#: closed it first).
KEEPALIVE = 15.0
#: Hosts whose idle connections are kept, at least (2 x concurrency if larger).
MIN_IDLE_HOSTS = 64
#: Longest header line and field accepted (aiohttp's default 8190 refuses long Link headers).
MAX_HEADER = 64 * 1024
KEPT_HEADERS = frozenset(("content-type", "content-location", "content-language", "etag",
                          "last-modified", "cache-control", "expires", "retry-after", "date",
                          "age", "link"))
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_VALIDATORS = frozenset(("etag", "last-modified"))
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~"
#: aiohttp >= 3.10 names a URL it cannot fetch (ftp://) apart from an invalid one
_NON_HTTP: type[Exception] = getattr(aiohttp, "NonHttpUrlClientError", aiohttp.InvalidURL)


def ssl_context() -> ssl.SSLContext:
    """What verifies servers: SSL_CERT_FILE or SSL_CERT_DIR if set, else certifi's bundle, as
    httpx does. Built at the first https URL (~45 ms: a pass over http feeds skips it), then
    kept for as long as those variables do not change."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=2)
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    if capath:
        return ssl.create_default_context(capath=capath)
    import certifi
    return ssl.create_default_context(cafile=certifi.where())


class _BoundedConnector(aiohttp.TCPConnector):
    """A TCPConnector that keeps idle connections for at most `max_idle_hosts` hosts, closing
    those of the least recently used beyond (aiohttp bounds connections in use, not idle).
    It relies on aiohttp's private `_release` and `_conns` (alike from 3.9 to 3.14);
    test_idle_connections_are_closed_beyond_the_host_cap fails if they change."""

    def __init__(self, *, max_idle_hosts: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_idle_hosts = max_idle_hosts

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        idle = self._conns
        if key in idle:
            idle[key] = idle.pop(key)  # most recently used last
        excess = len(idle) - self._max_idle_hosts
        if excess > 0:
            for old in [k for k in idle if k != key][:excess]:
                for proto, _ in idle.pop(old):
                    proto.close()


def open_session(settings: FetchSettings,
                 trace_configs: list[aiohttp.TraceConfig] | None = None) -> aiohttp.ClientSession:
    connector = _BoundedConnector(
        max_idle_hosts=max(MIN_IDLE_HOSTS, 2 * settings.concurrency),
        limit=settings.concurrency, limit_per_host=settings.per_host,
        keepalive_timeout=KEEPALIVE,
        resolver=None if settings.allow_private else GuardedResolver())
    timeout = aiohttp.ClientTimeout(total=None, sock_read=settings.timeout,
                                    sock_connect=min(settings.connect_timeout, settings.timeout))
    proxies = settings.allow_private and any(
        k in ("http", "https") for k in urllib.request.getproxies())
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, trust_env=proxies,
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT,
                 "Accept-Encoding": "gzip, deflate, br"},
        max_line_size=MAX_HEADER, max_field_size=MAX_HEADER, trace_configs=trace_configs)


def error(url: str, kind: ErrorKind, message: str, status: int | None = None,
          headers: dict[str, str] | None = None) -> FetchResult:
    return FetchResult(url=url, status=FetchStatus.ERROR, http_status=status, error_kind=kind,
                       error_message=message, headers=headers or {})


class ExchangeFailed(Exception):
    """No answer: the network, the address guard or the URL failed (`kind`, `message`). The
    Fetcher turns it into an error result that, unlike an answer, never records a move."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


async def get(session: aiohttp.ClientSession, settings: FetchSettings, feed_url: str, url: str,
              headers: dict[str, str]) -> FetchResult | tuple[int, str]:
    """One request: a result, or (status, Location) for a redirect; ExchangeFailed if there
    is no answer."""
    try:
        target = URL(url)
    except ValueError as e:  # http://[::1
        raise ExchangeFailed(ErrorKind.URL, f"invalid URL: {e}") from None
    try:
        if not settings.allow_private and target.raw_host:
            refuse_internal_literal(target.raw_host)
        tls = ssl_context() if target.scheme == "https" else True
        async with session.get(target, headers=headers, allow_redirects=False,
                               ssl=tls) as response:
            return await _answer(response, settings, feed_url, url)
    except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as e:
        raise ExchangeFailed(*classify(e)) from None


def header_text(value: str) -> str:
    """A header value as text that can be stored. aiohttp decodes header bytes as UTF-8 with
    `surrogateescape`, so a byte that is not UTF-8 (a Latin-1 `Content-Language: fr-é`, an
    ETag) stays a lone surrogate, which nothing later can encode: SQLite refused the feed's
    state at every poll. Such bytes become U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def location_text(value: str) -> str:
    """A Location's bytes that are not ASCII, percent-encoded as a browser sends them
    (`/caf\xe9.xml` is `/caf%E9.xml`, not U+FFFD)."""
    if value.isascii():
        return value
    return quote(value.encode("utf-8", "surrogateescape"), safe=_URL_SAFE)


async def _answer(response: aiohttp.ClientResponse, settings: FetchSettings, feed_url: str,
                  url: str) -> FetchResult | tuple[int, str]:
    kept: dict[str, str] = {}
    for name, value in response.headers.items():
        name = name.lower()
        if name in _VALIDATORS and not value.isascii():
            continue  # it could not be sent back as it came: it would never match
        if name in KEPT_HEADERS:  # repeated headers joined, as HTTP allows (Link)
            value = header_text(value)
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
    status = response.status
    if status < 200 or status >= 300:
        await _drain(response)
        if status in _REDIRECTS and "Location" in response.headers:
            return status, location_text(response.headers["Location"])
        if status == 304:
            return FetchResult(url=feed_url, status=FetchStatus.NOT_MODIFIED, http_status=304,
                               headers=kept, final_url=url)
        if status == 410:
            return FetchResult(url=feed_url, status=FetchStatus.GONE, http_status=410,
                               headers=kept, final_url=url, error_kind=ErrorKind.GONE,
                               error_message="410 Gone: the feed was removed")
        return error(feed_url, ErrorKind.HTTP,
                     f"HTTP {status} {header_text(response.reason or '')}".rstrip(), status, kept)
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    try:
        decoder = BodyDecoder(encoding, settings.max_size)
        async for chunk in response.content.iter_any():
            decoder.feed(chunk)
    except TooLarge:
        return error(feed_url, ErrorKind.TOO_LARGE,
                     f"body larger than {settings.max_size} bytes", status)
    except DECODE_ERRORS as e:
        return error(feed_url, ErrorKind.DECODING, f"cannot decode body: {e}", status)
    return FetchResult(url=feed_url, status=FetchStatus.OK, http_status=status,
                       body=decoder.body(), headers=kept, final_url=url)


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a body we do not use (a 304's, a redirect's, an error page's) so that the
    connection goes back to the pool: released unread, it is closed, and every unchanged feed
    then paid a new TCP and TLS handshake. A large body is not worth it."""
    size = 0
    try:  # the answer is complete without its body
        while size <= DRAIN_LIMIT:
            chunk = await response.content.readany()
            if not chunk:
                return
            size += len(chunk)
    except (aiohttp.ClientError, OSError):
        pass


def classify(e: BaseException) -> tuple[ErrorKind, str]:
    """The ErrorKind and message of a failed exchange."""
    refused = cause(e, PrivateAddressRefused)
    if refused is not None:
        return ErrorKind.PRIVATE_ADDRESS, str(refused)
    if isinstance(e, asyncio.TimeoutError):  # connect or read timeouts
        return ErrorKind.TIMEOUT, f"timed out ({type(e).__name__})"
    if isinstance(e, aiohttp.ClientConnectorError):  # DNS, refused, TLS verification
        return ErrorKind.CONNECT, str(e) or type(e).__name__
    if isinstance(e, _NON_HTTP):  # ftp://, file://…
        return ErrorKind.URL, f"unsupported protocol (not http or https): {e}"
    if isinstance(e, aiohttp.InvalidURL):  # http:///path
        return ErrorKind.URL, f"invalid URL: {e}"
    if isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError
                  | aiohttp.ClientResponseError | ValueError):  # ValueError: a header we send
        return ErrorKind.PROTOCOL, str(e) or type(e).__name__
    return ErrorKind.NETWORK, str(e) or type(e).__name__
