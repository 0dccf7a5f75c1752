"""WebSub with the daemon as a real subprocess and a hub written for the tests on 127.0.0.1:
subscription and intent verification, signed pushes to a real webhook receiver, dropped
forgeries, oversize bodies, lease renewal, and unsubscribing when a feed leaves the OPML."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from .conftest import FeedServer, Workspace, rss
from .test_daemon import WAIT, WATCH, Process, item, start

PUBLIC = "https://veille.example.org/websub"
TOPIC = "https://presse.example/fil.xml"  # the feed's rel="self": what we subscribe to
MAX_SIZE = 64 * 1024


def hub_links(hub: str) -> str:
    """<atom:link rel="hub"> and rel="self" inside an RSS channel, as WordPress writes them."""
    ns = 'xmlns:atom="http://www.w3.org/2005/Atom"'
    return (f'<atom:link {ns} rel="hub" href="{hub}"/>'
            f'<atom:link {ns} rel="self" href="{TOPIC}" type="application/rss+xml"/>')


@dataclass
class Hub:
    """A WebSub hub reduced to what the tests need: it records subscription requests (202),
    and the test drives verification and distribution itself, through the port the daemon
    logged (the reverse proxy of `public_url`)."""

    server: FeedServer
    daemon: Process
    port: int

    @property
    def url(self) -> str:
        return self.server.url("/hub")

    def request(self, n: int = 1) -> dict[str, str]:
        """The n-th subscription request the hub received, as a form."""
        got = self.server.wait_for("/hub", count=n)[n - 1]
        return {k: v[0] for k, v in parse_qs(got.body.decode()).items()}

    def local(self, callback: str) -> str:
        assert callback.startswith(PUBLIC + "/"), callback
        return f"http://127.0.0.1:{self.port}{urlsplit(callback).path}"

    def verify(self, form: dict[str, str], mode: str | None = None, topic: str | None = None,
               lease: int = 3600, challenge: str = "défi-42") -> httpx.Response:
        params = {"hub.mode": mode or form["hub.mode"], "hub.topic": topic or form["hub.topic"],
                  "hub.challenge": challenge, "hub.lease_seconds": str(lease)}
        return httpx.get(self.local(form["hub.callback"]), params=params, timeout=WAIT)

    def push(self, form: dict[str, str], body: bytes, signature: str | None = "sha256",
             secret: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/rss+xml"}
        if signature:
            key = (secret or form["hub.secret"]).encode()
            digest = hmac.new(key, body, getattr(hashlib, signature)).hexdigest()
            headers["X-Hub-Signature"] = f"{signature}={digest}"
        return httpx.post(self.local(form["hub.callback"]), content=body, headers=headers,
                          timeout=WAIT)


def feeds_json(ws: Workspace) -> list[dict]:
    return json.loads(ws.run("feeds", "list", "--format", "json").stdout)


@pytest.fixture
def hub(feed_server: FeedServer, workspace: Workspace) -> Iterator[Hub]:
    """The daemon polling every second one feed that names the test hub, with [websub] on."""
    workspace.config.write_text(
        'database = "var/veille.db"\n[fetch]\ninterval = "1s"\ntimeout = "5s"\n'
        f'[websub]\nlisten = "127.0.0.1:0"\npublic_url = "{PUBLIC}"\nlease = "2d"\n'
        f'max_size = "{MAX_SIZE // 1024}KiB"\npoll_interval = "1h"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n')
    feed_server.routes["/hook"] = (204, {}, b"")
    feed_server.routes["/hub"] = (202, {}, b"")
    workspace.write_watchlists(WATCH)
    feed = rss([item(1, "Rien à signaler")], extra=hub_links(feed_server.url("/hub")))
    workspace.write_feeds([feed_server.serve("/f.xml", feed)])
    daemon = start(workspace, None)
    try:
        line = daemon.wait_for_line("websub: listening on")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        yield Hub(feed_server, daemon, port)
    finally:
        daemon.stop()


def pushed(*titles: str) -> bytes:
    return rss([item(100 + i, t) for i, t in enumerate(titles)]).encode()


def test_subscribe_verify_push_and_forgeries(hub: Hub, workspace: Workspace):
    form = hub.request()
    assert form["hub.mode"] == "subscribe" and form["hub.topic"] == TOPIC
    assert form["hub.lease_seconds"] == str(2 * 86400)
    assert len(form["hub.secret"]) >= 32  # one secret per subscription

    # the challenge is echoed only for the topic we asked for, in the mode we asked
    assert hub.verify(form, topic="https://ailleurs.example/feed").status_code == 404
    assert hub.verify(form, mode="unsubscribe").status_code == 404
    hub.daemon.wait_for_line("verification refused: 'subscribe' of 'https://ailleurs.example")
    answer = hub.verify(form, lease=3600)
    assert answer.status_code == 200 and answer.text == "défi-42"
    hub.daemon.wait_for_line(f"websub: subscribed to {TOPIC} for 3600s")
    [feed] = feeds_json(workspace)
    assert feed["push"]["state"] == "active" and feed["push"]["hub"] == hub.url
    assert "push active until" in workspace.run("feeds", "list").stdout

    # forgeries: acknowledged (2xx), dropped, logged; never ingested
    assert hub.push(form, pushed("Nestlé faux 1"), secret="pas-le-bon").status_code == 202
    hub.daemon.wait_for_line("dropped: wrong signature")
    assert hub.push(form, pushed("Nestlé faux 2"), signature=None).status_code == 202
    hub.daemon.wait_for_line("dropped: missing signature")
    # a body over max_size is refused, signed or not
    big = pushed("Nestlé trop gros " + "x" * MAX_SIZE)
    assert hub.push(form, big).status_code == 413

    # a signed push goes the poll's way: parse, dedup, match, instant alert to the webhook
    started = time.monotonic()
    assert hub.push(form, pushed("Nestlé rappelle des pizzas"), "sha512").status_code == 202
    [hook] = hub.server.wait_for("/hook")
    latency = hook.at - started
    print(f"\npush -> webhook: {latency * 1000:.0f} ms")
    payload = json.loads(hook.body)
    assert [m["title"] for m in payload["matches"]] == ["Nestlé rappelle des pizzas"]
    titles = {e["title"] for e in json.loads(workspace.run("entries", "--format",
                                                             "json").stdout)}
    assert "Nestlé rappelle des pizzas" in titles
    assert not {"Nestlé faux 1", "Nestlé faux 2"} & titles
    # the same entry pushed again is deduplicated: no second alert
    hub.push(form, pushed("Nestlé rappelle des pizzas"), "sha1")
    hub.daemon.wait_for_line("0 new entries, 0 new matches")
    assert len(hub.server.requests("/hook")) == 1

    # polling goes on, at the safety-net pace: the next poll is about an hour away. The feed
    # server sees a poll before the daemon stores its new schedule (its state is written in
    # a batch after the parse), so a stale schedule is read again after the next request,
    # or after 2 s when that poll was the last one before the hour
    deadline = time.monotonic() + 60
    while True:
        polls = len(hub.server.requests("/f.xml"))
        [feed] = feeds_json(workspace)
        if _seconds_until(feed["next_due"]) > 1800 or time.monotonic() > deadline:
            break
        with hub.server.lock:
            hub.server.arrived.wait_for(lambda n=polls: len(hub.server.requests("/f.xml")) > n, 2)
    assert _seconds_until(feed["next_due"]) > 1800, feed


def _seconds_until(when: str) -> float:
    return (datetime.fromisoformat(when) - datetime.now(UTC)).total_seconds()


def test_lease_renewed_and_unsubscribed_when_the_feed_leaves(hub: Hub,
                                                             workspace: Workspace):
    form = hub.request()
    assert hub.verify(form, lease=3).status_code == 200
    # a 3-second lease is renewed before it expires: a second subscribe, same callback
    renewal = hub.request(2)
    assert renewal["hub.mode"] == "subscribe"
    assert renewal["hub.callback"] == form["hub.callback"]
    assert hub.verify(renewal, lease=3600).status_code == 200
    hub.daemon.wait_for_line(f"websub: subscribed to {TOPIC} for 3600s")

    workspace.write_feeds([])  # the feed leaves the OPML: unsubscribe
    leave = hub.request(3)
    assert leave["hub.mode"] == "unsubscribe" and leave["hub.topic"] == TOPIC
    assert leave["hub.callback"] == form["hub.callback"]
    assert hub.verify(leave, mode="subscribe").status_code == 404  # not what we asked now
    answer = hub.verify(leave, challenge="adieu")
    assert answer.status_code == 200 and answer.text == "adieu"
    hub.daemon.wait_for_line(f"websub: unsubscribed from {TOPIC}")
    # the callback is gone: a late push is told so (410), and ingests nothing
    assert hub.push(form, pushed("Nestlé après départ")).status_code == 410


def test_a_taken_listen_address_is_one_clear_error(workspace: Workspace):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        workspace.config.write_text(
            f'database = "var/veille.db"\n[websub]\nlisten = "127.0.0.1:{port}"\n'
            f'public_url = "{PUBLIC}"\n')
        daemon = start(workspace, None)
        assert daemon.proc.wait(timeout=WAIT) == 1
    daemon.wait_for_line(f"websub.listen: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in daemon.log, daemon.log
