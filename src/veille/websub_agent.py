"""The daemon's WebSub subscriber: asks hubs to push the feeds that advertise one, answers
their verifications, and hands signed pushes to the poll's own ingest path.

    reconcile (every few seconds): plan(subscriptions, now) -> POST hub.mode=… to hubs
    GET  <public_url>/<token>?hub.mode&hub.topic&hub.challenge -> echo, or 404 (websub.confirm)
    POST <public_url>/<token> -> 202; signed: FeedPass.push (parse, dedup, match, alerts)

Decisions are websub.py's; this module does the I/O and keeps the table up to date.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from .address_guard import guarded_transport
from .config import WebSubSettings
from .errors import ConfigError
from .models import FeedOutcome
from .pipeline import FeedPass
from .schedule import retry_at
from .store import Store
from .websub import (
    PushState,
    Request,
    Subscription,
    callback_url,
    confirm,
    plan,
    signature_ok,
    token_of,
)
from .websub_server import HttpRequest, HttpResponse, PushServer

log = logging.getLogger("veille")

#: A hub that denied us is asked again after this long (its policy may change).
DENIED_RETRY = timedelta(days=1)


class WebSubAgent:
    def __init__(self, settings: WebSubSettings, store: Store, clock: Callable[[], datetime],
                 feed_pass: Callable[[], FeedPass], on_done: Callable[[FeedOutcome], None],
                 user_agent: str, timeout: float, allow_private: bool = True) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.feed_pass = feed_pass
        self.on_done = on_done
        self.server = PushServer(settings.host, settings.port, self.handle, settings.max_size)
        # hubs are URLs a feed gave us: with allow_private off they pass the same guard as feeds
        transport = None if allow_private else guarded_transport()
        self.client = httpx.AsyncClient(timeout=timeout, headers={"User-Agent": user_agent},
                                        transport=transport)
        self.pushed: set[str] = set()  # feeds with an active subscription: polled slower
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        try:
            port = await self.server.start()
        except OSError as e:
            raise ConfigError(None, "websub.listen", f"cannot listen on {self.settings.host}:"
                              f"{self.settings.port}: {e.strerror or e}") from None
        log.info("websub: listening on %s:%d, callbacks under %s", self.settings.host, port,
                 self.settings.public_url)
        self.refresh()

    async def close(self) -> None:
        await self.server.close()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        await self.client.aclose()

    def poll_floor(self, feed_url: str) -> float | None:
        """The safety-net interval of a feed a hub pushes to us; None for the others."""
        return self.settings.poll_interval if feed_url in self.pushed else None

    def refresh(self) -> list[Subscription]:
        subs = self.store.subscriptions()
        now = self.clock()  # a lease that lapsed (its hub stopped answering) pushes nothing
        self.pushed = {s.feed_url for s in subs if s.state == PushState.ACTIVE
                       and s.expires_at is not None and s.expires_at > now}
        return subs

    # --- requests to hubs ---------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Subscribe, renew and unsubscribe as websub.plan decides for this moment."""
        requests, forget = plan(self.refresh(), self.clock())
        if forget:
            self.store.forget_subscriptions(forget)
        await asyncio.gather(*(self._request(r) for r in requests))

    async def _request(self, request: Request) -> None:
        sub, now = request.sub, self.clock()
        # the state changes before the request: a hub may verify before it answers us
        previous = sub.state
        if request.mode == "unsubscribe":
            state = PushState.UNSUBSCRIBING
        else:
            state = PushState.ACTIVE if previous == PushState.ACTIVE else PushState.REQUESTED
        self.store.update_subscription(sub.feed_url, state=state, requested_at=now)
        log.info("websub: %s %s at %s", request.mode, sub.topic, sub.hub)
        form = {"hub.mode": request.mode, "hub.topic": sub.topic,
                "hub.callback": callback_url(self.settings.public_url, sub.token)}
        if request.mode == "subscribe":
            form.update({"hub.secret": sub.secret,
                         "hub.lease_seconds": str(int(self.settings.lease))})
        try:
            response = await self.client.post(sub.hub, data=form)
            error = None if response.is_success else (
                f"HTTP {response.status_code}: {response.text[:200].strip()}")
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
        if error is None:
            return
        log.warning("websub: %s %s at %s failed: %s", request.mode, sub.topic, sub.hub, error)
        failures = sub.failures + 1
        kept = previous if previous in (PushState.ACTIVE, PushState.REQUESTED) else \
            PushState.FAILED
        self.store.update_subscription(
            sub.feed_url, state=kept, failures=failures, last_error=error,
            next_attempt=retry_at(failures, self.clock()), requested_at=sub.requested_at)

    # --- requests from hubs -------------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        sub = self.store.subscription(token_of(request.target))
        if request.method == "GET":
            return self._verify(sub, request)
        if request.method == "POST":
            return self._push(sub, request)
        return HttpResponse(405, b"GET or POST\n", {"allow": "GET, POST"})

    def _verify(self, sub: Subscription | None, request: HttpRequest) -> HttpResponse:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.target).query).items()}
        mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
        now = self.clock()
        if mode == "denied" and sub is not None and topic == sub.topic:
            reason = query.get("hub.reason") or "no reason given"
            log.warning("websub: %s denied the subscription to %s: %s", sub.hub, topic, reason)
            self.store.update_subscription(sub.feed_url, state=PushState.DENIED,
                                           last_error=f"denied: {reason}",
                                           next_attempt=now + DENIED_RETRY)
            self.refresh()
            return HttpResponse(200)
        if not confirm(sub, mode, topic) or "hub.challenge" not in query:
            # quoted: what a stranger sends must not forge log lines
            log.warning("websub: verification refused: %r of %r, which we did not ask for",
                        mode[:40], topic[:500])
            return HttpResponse(404, b"no such subscription\n")
        assert sub is not None
        if mode == "unsubscribe":
            self.store.forget_subscriptions([sub.feed_url])
            log.info("websub: unsubscribed from %s", topic)
        else:
            lease = _seconds(query.get("hub.lease_seconds")) or int(self.settings.lease)
            self.store.update_subscription(
                sub.feed_url, state=PushState.ACTIVE, lease_seconds=lease,
                expires_at=now + timedelta(seconds=lease), failures=0, last_error=None,
                next_attempt=None)
            log.info("websub: subscribed to %s for %ds", topic, lease)
        self.refresh()
        return HttpResponse(200, query["hub.challenge"].encode())

    def _push(self, sub: Subscription | None, request: HttpRequest) -> HttpResponse:
        if sub is None or not sub.in_opml:
            # 410 tells the hub this callback is gone (spec §7)
            return HttpResponse(410, b"no such subscription\n")
        signature = request.headers.get("x-hub-signature")
        if not signature_ok(sub.secret, signature, request.body):
            # acknowledged all the same (spec §8): a forger learns nothing from the answer
            log.warning("websub: push for %s dropped: %s signature", sub.feed_url,
                        "wrong" if signature else "missing")
            return HttpResponse(202)
        self.store.update_subscription(sub.feed_url, last_push=self.clock(),
                                       pushes=sub.pushes + 1)
        headers = {k: v for k, v in request.headers.items() if k == "content-type"}
        task = asyncio.get_running_loop().create_task(
            self._ingest(sub.feed_url, request.body, headers))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return HttpResponse(202)

    async def _ingest(self, feed_url: str, body: bytes, headers: dict[str, str]) -> None:
        feed = self.store.feed(feed_url)
        if feed is None:
            return
        try:
            outcome = await self.feed_pass().push(feed, body, headers)
        except Exception:  # a bug costs this push; the safety-net poll still finds the entries
            log.exception("websub: push for %s failed", feed_url)
            return
        log.info("websub: push for %s: %d new entries, %d new matches", feed_url,
                 outcome.new_entries, outcome.new_matches)
        self.on_done(outcome)


def _seconds(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None
