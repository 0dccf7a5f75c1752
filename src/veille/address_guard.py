"""`[fetch] allow_private = false`: refuse to connect to loopback, private, link-local or
multicast addresses, checked on the address actually connected to.

A check on the URL's host name before the request is not enough: a feed's host can answer a
public address to the check and 127.0.0.1 to the connection a moment later (DNS rebinding),
and a redirect or a discovered link can point anywhere. So each guard resolves the host
itself, refuses if any answer is internal, and connects only to addresses it checked: for
feeds, aiohttp's resolver (address_resolver.py); for the WebSub agent's httpx client, an
httpcore network backend (address_guard_httpx.py: `GuardedBackend`, `guarded_transport`,
`PrivateAddressError`, `is_private_refusal`, importable from here too). This module holds
what both share, the judgement and the message, and loads neither HTTP library: a feed pass
does not pay for importing httpx.
"""

from __future__ import annotations

import ipaddress
from typing import Any, TypeVar

E = TypeVar("E", bound=BaseException)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_HTTPX_GUARD = frozenset(("GuardedBackend", "guarded_transport", "PrivateAddressError",
                          "is_private_refusal"))


def internal(address: IPAddress) -> bool:
    """Loopback, private, link-local, multicast, unspecified or reserved: not the public
    internet. An IPv4 address mapped into IPv6 (::ffff:127.0.0.1) is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_private or address.is_link_local
            or address.is_multicast or address.is_unspecified or address.is_reserved
            or not address.is_global)


def refusal(host: str, address: str) -> str:
    shown = host if host == address else f"{host} ({address})"
    return (f"refused: {shown} is a loopback, private, link-local or multicast address "
            f"(fetch.allow_private = false)")


def cause(error: BaseException, kind: type[E]) -> E | None:
    """The guard's refusal behind an HTTP client's error: the clients wrap it (as __cause__ or
    __context__, sometimes twice), and a refusal must be told from any connect error."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def __getattr__(name: str) -> Any:
    """The httpx guard's names, loaded with httpx on first use."""
    if name in _HTTPX_GUARD:
        from . import address_guard_httpx
        return getattr(address_guard_httpx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
