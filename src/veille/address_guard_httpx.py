"""The WebSub agent's address guard (httpx): an httpcore network backend that resolves,
checks every address (address_guard.py's `internal`) and connects to a checked one. TLS still
verifies the host name (httpcore passes the origin's name as SNI, whatever address the socket
reached). Kept apart so that feed passes, which fetch with aiohttp, do not import httpx.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

from . import address_guard
from .address_guard import cause, refusal


class PrivateAddressError(httpcore.ConnectError):
    """A connection refused because the host resolves to an internal address. httpx turns it
    into an httpx.ConnectError whose __cause__ is this (see `is_private_refusal`)."""


class GuardedBackend(AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked address."""

    def __init__(self, inner: AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as e:
            raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            # looked up at call time: one policy (and one test seam) for both guards
            if address_guard.internal(ipaddress.ip_address(address.split("%")[0])):
                raise PrivateAddressError(refusal(host, address))
        return addresses

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> AsyncNetworkStream:
        raise PrivateAddressError(f"refused: unix socket {path} (fetch.allow_private = false)")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(limits: httpx.Limits | None = None,
                      verify: Any = True) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through GuardedBackend. (A client given
    a transport ignores its own `limits`, so they are passed here. It also ignores proxy
    environment variables: the guard would only ever see the proxy's address.)"""
    transport = httpx.AsyncHTTPTransport(limits=limits or httpx.Limits(), verify=verify)
    pool = transport._pool  # noqa: SLF001 - httpx exposes no network_backend argument
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    pool._network_backend = GuardedBackend()  # noqa: SLF001
    return transport


def is_private_refusal(error: BaseException) -> bool:
    """Whether an httpx error (or its cause) is the guard's refusal."""
    return cause(error, PrivateAddressError) is not None
