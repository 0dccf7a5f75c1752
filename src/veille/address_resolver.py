"""`[fetch] allow_private = false` on the feed fetch path (aiohttp): the guard is the resolver.

aiohttp connects only to the addresses its resolver returned, so a resolver that resolves,
refuses the whole name if any answer is internal, and returns only checked addresses makes
every connection go to an address that was checked: a name answering a public address to a
check and 127.0.0.1 a moment later (DNS rebinding) cannot slip through, and each redirect hop
or discovered link is resolved again. aiohttp's DNS cache holds these checked answers only.

aiohttp does not ask the resolver about an IP literal (http://127.0.0.1/): it connects to it
as written, so `refuse_internal_literal` checks such a host before the request. The judgement
and the message are address_guard.py's (`internal`, `refusal`), shared with the httpx guard
the WebSub agent uses.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from . import address_guard


class PrivateAddressRefused(OSError):
    """A connection refused because the host is, or resolves to, an internal address.
    aiohttp wraps it in a ClientConnectorError whose __cause__ is this."""


def _check(host: str, address: str) -> None:
    # looked up on the module at call time, so one policy (and one test seam) for both guards
    if address_guard.internal(ipaddress.ip_address(address.split("%")[0])):
        raise PrivateAddressRefused(address_guard.refusal(host, address))


def refuse_internal_literal(host: str) -> None:
    """Raise PrivateAddressRefused if `host` is an internal IP literal (a name passes: the
    resolver checks it)."""
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return
    _check(host, host)


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's default resolver and refuses a name with any internal answer."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            _check(host, answer["host"])
        return answers

    async def close(self) -> None:
        await self._inner.close()
