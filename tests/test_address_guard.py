"""[fetch] allow_private: internal addresses refused when connecting, on the resolved address."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket

import httpcore
import pytest

from veille.address_guard import GuardedBackend, PrivateAddressError, internal
from veille.config import FetchSettings
from veille.fetch import Fetcher, FetchRequest

from .conftest import FeedServer, Workspace, rss


@pytest.mark.parametrize("address, refused", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("224.0.0.1", True), ("0.0.0.0", True), ("::1", True),
    ("fe80::1", True), ("fc00::1", True), ("::ffff:127.0.0.1", True), ("ff02::1", True),
    ("100.64.0.1", True), ("93.184.216.34", False), ("2a00:1450:4007:80e::200e", False),
])
def test_internal_addresses(address, refused):
    assert internal(ipaddress.ip_address(address)) is refused


def feeds_json(ws: Workspace) -> dict[str, dict]:
    return {f["url"]: f for f in json.loads(ws.run("feeds", "list", "--format", "json").stdout)}


def test_allow_private_false_refuses_a_loopback_feed(feed_server: FeedServer,
                                                     workspace: Workspace):
    url = feed_server.serve("/f.xml", rss([{"title": "Un", "guid": "1"}]))
    workspace.write_config(fetch="allow_private = false")
    workspace.write_feeds([url])
    workspace.run("fetch")
    state = feeds_json(workspace)[url]
    assert state["error_kind"] == "private_address"
    assert "127.0.0.1" in state["error"] and "allow_private" in state["error"]
    assert feed_server.requests("/f.xml") == []  # not one byte was sent to it
    workspace.write_config(fetch="allow_private = true")  # the default lets it through
    workspace.run("fetch")
    assert feeds_json(workspace)[url]["entries"] == 1


def test_a_name_resolving_to_loopback_is_refused(feed_server: FeedServer):
    feed_server.serve("/f.xml", rss([]))

    async def fetch():
        async with Fetcher(FetchSettings(allow_private=False)) as fetcher:
            return await fetcher.fetch(FetchRequest("u", f"http://localhost:{feed_server.port}"
                                                         "/f.xml"))
    result = asyncio.run(fetch())
    assert result.error_kind == "private_address" and "localhost" in result.error_message
    assert feed_server.requests("/f.xml") == []


def test_a_redirect_to_an_internal_address_is_refused(feed_server: FeedServer, monkeypatch):
    """The first hop is allowed (127.0.0.1 made "public" for the test), the redirect target is
    not: every connection, not only the first, goes through the check."""
    monkeypatch.setattr("veille.address_guard.internal",
                        lambda a: str(a) != "127.0.0.1")
    feed_server.routes["/old"] = (302, {"Location": f"http://127.0.0.2:{feed_server.port}/x"},
                                  b"")

    async def fetch():
        async with Fetcher(FetchSettings(allow_private=False)) as fetcher:
            return await fetcher.fetch(FetchRequest("u", feed_server.url("/old")))
    result = asyncio.run(fetch())
    assert len(feed_server.requests("/old")) == 1
    assert result.error_kind == "private_address" and "127.0.0.2" in result.error_message


def test_connects_to_the_address_it_checked(monkeypatch):
    """A name is resolved once, by the guard: the connection goes to the checked address, so
    a DNS answer that changes between check and connect cannot reach an internal host."""
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80))],
                    [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]])
    connected: list[str] = []

    class Inner(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host, port, timeout=None, local_address=None,
                              socket_options=None):
            connected.append(host)
            return "stream"

    async def run():
        loop = asyncio.get_running_loop()

        async def getaddrinfo(*args, **kwargs):
            return next(answers)
        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        backend = GuardedBackend(Inner())
        assert await backend.connect_tcp("rebind.example", 80) == "stream"
        with pytest.raises(PrivateAddressError):
            await backend.connect_tcp("rebind.example", 80)
    asyncio.run(run())
    assert connected == ["93.184.216.34"]
