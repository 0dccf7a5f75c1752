"""WebSub decisions (pure, with a clock passed in), the push server's bounds, [websub]
settings, the m009 migration, and hub discovery during a real poll."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlite_utils

from veille.config import FetchSettings, WebSubSettings, settings_from_toml
from veille.errors import ConfigError
from veille.models import FeedSource, FeedState, FetchResult
from veille.outcomes import FetchStatus
from veille.schedule import after_fetch
from veille.store import Store, migrations
from veille.websub import (
    PushState,
    Subscription,
    callback_url,
    confirm,
    describe,
    discover,
    link_header,
    plan,
    renew_at,
    signature_ok,
    token_of,
)
from veille.websub_agent import WebSubAgent
from veille.websub_server import HttpRequest, HttpResponse, PushServer

from .conftest import FeedServer, Workspace, rss

NOW = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def sub(**changes) -> Subscription:
    base = Subscription("https://f.example/feed", "https://hub.example/", "https://f.example/t",
                        "tok", "s3cret")
    return replace(base, **changes)


# --- signatures (spec §8) ----------------------------------------------------------------------

def sign(method: str, secret: str, body: bytes) -> str:
    return f"{method}={hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()}"


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_every_signature_method_of_the_spec_is_checked(method):
    body = "<rss>Nestlé œuvre</rss>".encode()
    assert signature_ok("s3cret", sign(method, "s3cret", body), body)
    assert signature_ok("s3cret", sign(method, "s3cret", body).upper().replace(
        method.upper(), method), body)  # hex digits in either case
    assert not signature_ok("s3cret", sign(method, "autre", body), body)
    assert not signature_ok("s3cret", sign(method, "s3cret", body), body + b" ")


@pytest.mark.parametrize("header", [None, "", "sha256", "md5=" + "0" * 32,
                                    "sha256=" + "0" * 64, "=abc"])
def test_missing_unknown_or_wrong_signatures_are_refused(header):
    assert not signature_ok("s3cret", header, b"body")


# --- discovery (spec §4) ------------------------------------------------------------------------

def test_link_header_parsing():
    value = ('<https://hub.example/>; rel="hub", <https://f.example/t>; rel=self, '
             '<https://alt.example/>; rel="alternate hub"')
    assert link_header(value) == [("https://hub.example/", {"hub"}),
                                  ("https://f.example/t", {"self"}),
                                  ("https://alt.example/", {"alternate", "hub"})]


@pytest.mark.parametrize("headers, links, expected", [
    # the Link header comes first; topic from rel=self
    ({"link": '<https://h1.example/>; rel="hub", <https://f.example/self>; rel="self"'},
     [("hub", "https://h2.example/")], ("https://h1.example/", "https://f.example/self")),
    # the feed's own links, relative ones resolved; no self: the URL it was fetched from
    ({}, [("hub", "/hub")], ("https://f.example/hub", "https://f.example/feed")),
    ({}, [("hub", "https://h.example/"), ("self", "https://f.example/t")],
     ("https://h.example/", "https://f.example/t")),
    ({}, [("self", "https://f.example/t")], None),  # no hub, no push
    ({}, [("hub", "javascript:alert(1)")], None),
    ({"link": '<https://f.example/next>; rel="next"'}, [], None),
])
def test_discover(headers, links, expected):
    assert discover(headers, links, "https://f.example/feed") == expected


def test_callback_url_and_token():
    assert callback_url("https://v.example/websub/", "abc") == "https://v.example/websub/abc"
    # whatever prefix the reverse proxy keeps, the token is the last segment
    assert token_of("/websub/abc?hub.mode=subscribe") == "abc"
    assert token_of("/abc") == "abc"


# --- what to do, at which moment ----------------------------------------------------------------

def test_lease_is_renewed_a_tenth_before_expiry_at_most_a_day():
    ten_days = sub(state=PushState.ACTIVE, lease_seconds=10 * 86400, expires_at=NOW + 10 * DAY)
    assert renew_at(ten_days) == NOW + 9 * DAY
    month = replace(ten_days, lease_seconds=30 * 86400, expires_at=NOW + 30 * DAY)
    assert renew_at(month) == NOW + 29 * DAY
    hour = replace(ten_days, lease_seconds=3600, expires_at=NOW + HOUR)
    assert renew_at(hour) == NOW + timedelta(minutes=54)


ACTIVE = sub(state=PushState.ACTIVE, lease_seconds=10 * 86400, expires_at=NOW + 10 * DAY,
             requested_at=NOW - 2 * HOUR)


@pytest.mark.parametrize("row, at, expected", [
    (sub(), NOW, "subscribe"),  # a hub just discovered
    (ACTIVE, NOW, None),  # far from expiry
    (ACTIVE, NOW + 9 * DAY - HOUR, None),
    (ACTIVE, NOW + 9 * DAY, "subscribe"),  # renewal due
    (replace(ACTIVE, requested_at=NOW + 9 * DAY), NOW + 9 * DAY + timedelta(minutes=5),
     None),  # renewal sent, waiting for the hub to verify it
    (replace(ACTIVE, requested_at=NOW + 9 * DAY), NOW + 9 * DAY + 2 * HOUR,
     "subscribe"),  # …never verified: asked again
    (replace(ACTIVE, next_attempt=NOW + 9 * DAY + HOUR), NOW + 9 * DAY,
     None),  # renewal failed: backing off, the lease still runs
    (sub(state=PushState.REQUESTED, requested_at=NOW - timedelta(minutes=5)), NOW, None),
    (sub(state=PushState.REQUESTED, requested_at=NOW - 2 * HOUR), NOW, "subscribe"),
    (sub(state=PushState.FAILED, next_attempt=NOW + HOUR), NOW, None),
    (sub(state=PushState.FAILED, next_attempt=NOW - HOUR), NOW, "subscribe"),
    (sub(state=PushState.DENIED, next_attempt=NOW + DAY), NOW, None),
    # the feed left the OPML
    (replace(ACTIVE, in_opml=False), NOW, "unsubscribe"),
    (sub(state=PushState.REQUESTED, in_opml=False), NOW, "unsubscribe"),
    (sub(in_opml=False), NOW, "forget"),
    (sub(state=PushState.FAILED, in_opml=False), NOW, "forget"),
    (sub(state=PushState.UNSUBSCRIBING, in_opml=False, requested_at=NOW), NOW, None),
    (sub(state=PushState.UNSUBSCRIBING, in_opml=False, requested_at=NOW - 2 * HOUR), NOW,
     "forget"),  # the hub never verified the unsubscribe: its lease will lapse
    # …and came back before the hub verified the unsubscribe
    (sub(state=PushState.UNSUBSCRIBING, requested_at=NOW), NOW, "subscribe"),
])
def test_plan(row, at, expected):
    requests, forget = plan([row], at)
    got = [r.mode for r in requests] + ["forget" for _ in forget]
    assert got == ([expected] if expected else [])


@pytest.mark.parametrize("row, mode, topic, expected", [
    (sub(state=PushState.REQUESTED), "subscribe", "https://f.example/t", True),
    (ACTIVE, "subscribe", "https://f.example/t", True),  # a renewal
    (sub(state=PushState.REQUESTED), "subscribe", "https://other.example/", False),
    (sub(state=PushState.REQUESTED), "unsubscribe", "https://f.example/t", False),
    (sub(state=PushState.DISCOVERED), "subscribe", "https://f.example/t", False),  # not asked
    (replace(ACTIVE, in_opml=False), "subscribe", "https://f.example/t", False),
    (sub(state=PushState.UNSUBSCRIBING, in_opml=False), "unsubscribe", "https://f.example/t",
     True),
    (None, "subscribe", "https://f.example/t", False),  # unknown callback
    (ACTIVE, "denied", "https://f.example/t", False),
])
def test_confirm_only_what_we_asked_for(row, mode, topic, expected):
    assert confirm(row, mode, topic) is expected


def test_a_pushed_feed_is_polled_at_the_safety_net_pace():
    feed = FeedState("https://f.example/feed")
    result = FetchResult(feed.url, FetchStatus.OK, 200, b"x")
    settings = FetchSettings(interval=600)
    normal = after_fetch(feed, result, NOW, settings, random.Random(1))
    slow = after_fetch(feed, result, NOW, settings, random.Random(1), floor=6 * 3600)
    assert normal.next_due <= NOW + timedelta(seconds=660)
    assert NOW + timedelta(hours=5.4) <= slow.next_due <= NOW + timedelta(hours=6.6)


# --- settings and schema ------------------------------------------------------------------------

def test_websub_settings():
    off = settings_from_toml({}, None, {})
    assert not off.websub.enabled
    on = settings_from_toml({"websub": {"listen": "127.0.0.1:8089", "public_url":
                                        "https://veille.example.org/websub", "lease": "5d",
                                        "max_size": "256KiB", "poll_interval": "2h"}}, None, {})
    w = on.websub
    assert w.enabled and (w.host, w.port) == ("127.0.0.1", 8089)
    assert (w.lease, w.max_size, w.poll_interval) == (5 * 86400, 256 * 1024, 7200)
    assert settings_from_toml({"websub": {"listen": "[::1]:9000", "public_url": "https://x"}},
                              None, {}).websub.host == "::1"


@pytest.mark.parametrize("table, key", [
    ({"listen": "127.0.0.1:8089"}, "websub.public_url"),
    ({"public_url": "https://v.example/"}, "websub.listen"),
    ({"listen": "8089", "public_url": "https://v.example/"}, "websub.listen"),
    ({"listen": "h:8089", "public_url": "v.example"}, "websub.public_url"),
    ({"listen": "h:8089", "public_url": "https://v/", "leas": "1d"}, "websub.leas"),
])
def test_websub_settings_errors(table, key):
    with pytest.raises(ConfigError) as e:
        settings_from_toml({"websub": table}, None, {})
    assert e.value.key == key


def test_m009_upgrades_the_previous_schema(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m009_websub")
    db.execute("INSERT INTO feeds (url) VALUES ('https://f')")
    db.conn.commit()
    db.conn.close()
    store = Store.open(path)
    assert store.subscriptions() == []
    with store.transaction():
        store.note_hub("https://f", ("https://hub/", "https://f"))
    [row] = store.subscriptions()
    assert row.state == PushState.DISCOVERED and row.in_opml
    assert store.subscription(row.token) == row and len(row.secret) == 64
    with store.transaction():  # the same hub again: the same subscription
        store.note_hub("https://f", ("https://hub/", "https://f"))
    assert store.subscriptions() == [row]
    with store.transaction():  # another hub: a new subscription, new token and secret
        store.note_hub("https://f", ("https://hub2/", "https://f"))
    [moved] = store.subscriptions()
    assert moved.hub == "https://hub2/" and moved.token != row.token
    store.close()


# --- discovery in a real poll -------------------------------------------------------------------

def test_a_poll_records_the_hub_and_feeds_list_shows_it(feed_server: FeedServer,
                                                        workspace: Workspace):
    hub = feed_server.url("/hub")
    url = feed_server.serve("/f.xml", rss([{"title": "a", "guid": "1"}]),
                            headers={"Link": f'<{hub}>; rel="hub", <https://t.example/>; '
                                             f'rel="self"'})
    plain = feed_server.serve("/g.xml", rss([{"title": "b", "guid": "2"}]))
    workspace.write_feeds([url, plain])
    workspace.run("fetch")
    feeds = {f["url"]: f for f in json.loads(workspace.run("feeds", "list", "--format",
                                                           "json").stdout)}
    assert feeds[url]["push"]["hub"] == hub and feeds[url]["push"]["topic"] == "https://t.example/"
    assert feeds[url]["push"]["state"] == "discovered"
    assert feeds[plain]["push"] is None
    assert "push off: no [websub]" in workspace.run("feeds", "list").stdout
    assert not feed_server.requests("/hub")  # off unless configured


# --- the server's bounds ------------------------------------------------------------------------

def test_server_refuses_bodies_over_max_size_even_chunked():
    async def scenario() -> list[int]:
        seen: list[HttpRequest] = []

        async def handler(request: HttpRequest) -> HttpResponse:
            seen.append(request)
            return HttpResponse(202)

        server = PushServer("127.0.0.1", 0, handler, max_size=1000)
        port = await server.start()
        url = f"http://127.0.0.1:{port}/websub/tok"

        async def chunks(n: int):
            for _ in range(n):
                yield b"x" * 100

        try:
            async with httpx.AsyncClient() as client:
                codes = [(await client.post(url, content=b"x" * 1000)).status_code,
                         (await client.post(url, content=b"x" * 1001)).status_code,
                         (await client.post(url, content=chunks(5))).status_code,
                         (await client.post(url, content=chunks(50))).status_code,
                         (await client.get(url + "?hub.mode=x")).status_code]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            codes.append(int((await reader.read(100)).split()[1]))
            writer.close()
        finally:
            await server.close()
        assert [len(r.body) for r in seen] == [1000, 500, 0]
        return codes

    assert asyncio.run(scenario()) == [202, 413, 202, 413, 202, 400]


# --- the agent's answers, in process ------------------------------------------------------------

def test_agent_records_a_denial_and_refuses_strangers():
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f.example/feed")])
    store.note_hub("https://f.example/feed", ("https://hub.example/", "https://f.example/t"))
    [row] = store.subscriptions()
    store.update_subscription(row.feed_url, state=PushState.REQUESTED, requested_at=NOW)
    agent = WebSubAgent(WebSubSettings(public_url="https://v.example/websub"), store,
                        lambda: NOW, lambda: None, lambda outcome: None, "ua", 5)

    async def ask(method: str, target: str) -> int:
        return (await agent.handle(HttpRequest(method, target, {}))).status

    async def scenario() -> list[int]:
        try:
            return [await ask("GET", f"/websub/{row.token}?hub.mode=denied&hub.topic="
                                     "https%3A%2F%2Ff.example%2Ft&hub.reason=quota"),
                    await ask("POST", "/websub/nope"), await ask("PUT", f"/{row.token}"),
                    await ask("GET", "/websub/nope?hub.mode=subscribe&hub.topic=x&"
                                     "hub.challenge=c")]
        finally:
            await agent.client.aclose()

    assert asyncio.run(scenario()) == [200, 410, 405, 404]
    [denied] = store.subscriptions()
    assert denied.state == PushState.DENIED and denied.last_error == "denied: quota"
    assert denied.next_attempt == NOW + DAY
    assert plan([denied], NOW + DAY)[0][0].mode == "subscribe"  # asked again a day later


def test_only_a_running_lease_slows_polling_and_feeds_list_says_so():
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f.example/feed")])
    store.note_hub("https://f.example/feed", ("https://hub.example/", "https://f.example/t"))
    clock = [NOW]
    agent = WebSubAgent(WebSubSettings(public_url="https://v.example/w", poll_interval=7200),
                        store, lambda: clock[0], lambda: None, lambda outcome: None, "ua", 5)
    agent.refresh()
    assert agent.poll_floor("https://f.example/feed") is None  # not subscribed yet
    store.update_subscription("https://f.example/feed", state=PushState.ACTIVE,
                              lease_seconds=86400, expires_at=NOW + DAY)
    [active] = agent.refresh()
    assert agent.poll_floor("https://f.example/feed") == 7200
    assert describe(active, True, UTC, NOW).startswith("push active until 2026-03-10 08:30")
    clock[0] = NOW + 2 * DAY  # the hub never answered the renewal: back to normal polling
    agent.refresh()
    assert agent.poll_floor("https://f.example/feed") is None
    assert describe(active, True, UTC, clock[0]).startswith("push lapsed at")
    assert describe(active, False).startswith("hub https://hub.example/ (push off")
    assert describe(None, True) == "poll only"
    asyncio.run(agent.client.aclose())


@pytest.mark.parametrize("allow_private", [True, False])
def test_a_hub_on_an_internal_address_is_refused_when_allow_private_is_off(
        feed_server: FeedServer, allow_private: bool):
    """A hub is a URL a feed gave us: with `allow_private = false` it passes the same guard as
    feeds, so a feed cannot make the daemon POST to a service on its own network."""
    feed_server.serve("/hub", "", status=202)
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f.example/feed")])
    store.note_hub("https://f.example/feed", (feed_server.url("/hub"), "https://f.example/t"))
    agent = WebSubAgent(WebSubSettings(public_url="https://v.example/websub"), store,
                        lambda: NOW, lambda: None, lambda outcome: None, "ua", 5,
                        allow_private=allow_private)

    async def scenario() -> None:
        try:
            await agent.reconcile()
        finally:
            await agent.client.aclose()

    asyncio.run(scenario())
    [sub] = store.subscriptions()
    if allow_private:
        assert len(feed_server.requests("/hub")) == 1 and sub.last_error is None
    else:
        assert feed_server.requests("/hub") == []
        assert sub.last_error is not None and "allow_private = false" in sub.last_error
