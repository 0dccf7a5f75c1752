"""Deliveries outside the poll: channels served concurrently, retry backoff respected, and a
prompt stop. Fake channels here decide nothing on the wire (the daemon subprocess tests prove
that part against a real webhook receiver)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from veille.deliver.base import Receipt
from veille.digest import Digest
from veille.dispatch import Dispatcher
from veille.errors import DeliveryError
from veille.match import MatchResult
from veille.models import FeedSource, ParsedEntry
from veille.outbox import Outbox
from veille.store import Store
from veille.watchlists import Watchlist

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Fake:
    def __init__(self, name: str, fail: bool = False, hang: asyncio.Event | None = None):
        self.name = name
        self.fail = fail
        self.hang = hang
        self.sent: list[str] = []

    async def send(self, digest: Digest) -> Receipt:
        if self.hang is not None:
            await self.hang.wait()
        if self.fail:
            raise DeliveryError(self.name, "HTTP 500")
        self.sent.append(digest.id)
        return Receipt(self.name, "ok")

    def describe(self) -> str:
        return self.name


def outbox_with_match(channels: dict[str, Fake], clock=lambda: NOW) -> Outbox:
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f")])
    [change] = store.upsert_entries("https://f", [ParsedEntry(
        key="a", guid="a", title="Nestlé", link=None, author=None, published=NOW,
        updated=None, summary_html="", summary_text="", content_html="", content_text="")],
        NOW)
    store.add_matches([(MatchResult("w", change.entry.id, ("nestlé",), ""), False)], NOW)
    watchlist = Watchlist(name="w", query="nestlé", schedule="instant",
                          channels=tuple(channels))
    return Outbox(store, channels, [watchlist], "UTC", clock)


def test_a_hung_channel_delays_only_itself():
    async def scenario() -> None:
        hang = asyncio.Event()
        slow, fast = Fake("slow", hang=hang), Fake("fast")
        outbox = outbox_with_match({"slow": slow, "fast": fast})
        sending = asyncio.create_task(outbox.deliver(["w"]))
        while not fast.sent:  # fast goes out while slow still hangs
            await asyncio.sleep(0)
        assert slow.sent == [] and not sending.done()
        hang.set()
        outcomes = await sending
        assert sorted(o.channel for o in outcomes if o.ok) == ["fast", "slow"]

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_daemon_respects_the_retry_backoff_a_user_does_not():
    now = [NOW]
    failing = Fake("hook", fail=True)
    outbox = outbox_with_match({"hook": failing}, clock=lambda: now[0])
    [outcome] = asyncio.run(outbox.deliver(["w"], due_only=True))
    assert not outcome.ok
    failing.fail = False
    now[0] = NOW + timedelta(seconds=30)  # the retry is due in a minute
    assert asyncio.run(outbox.deliver(["w"], due_only=True)) == []
    assert asyncio.run(outbox.retry_due()) == []
    now[0] = NOW + timedelta(seconds=61)
    [retried] = asyncio.run(outbox.deliver(["w"], due_only=True))
    assert retried.ok and failing.sent == [outcome.batch_id]
    # `veille digest --send` (due_only off) would not have waited
    failing2 = Fake("hook", fail=True)
    outbox2 = outbox_with_match({"hook": failing2}, clock=lambda: NOW)
    asyncio.run(outbox2.deliver(["w"]))
    failing2.fail = False
    assert [o.ok for o in asyncio.run(outbox2.deliver(["w"]))] == [True]


def test_stopping_waits_for_the_send_in_progress_not_for_the_grace_period():
    async def scenario() -> float:
        release = asyncio.Event()
        hook = Fake("hook", hang=release)
        outbox = outbox_with_match({"hook": hook, "console": Fake("console")})
        dispatcher = Dispatcher(lambda: outbox, lambda: ["w"], lambda outcomes: None)
        dispatcher.wake()
        while not outbox.store.open_batches("hook"):
            await asyncio.sleep(0)  # the hook worker is now inside its send
        asyncio.get_running_loop().call_later(0.2, release.set)
        started = time.monotonic()
        await dispatcher.close(grace=30)
        assert hook.sent  # the send in progress was allowed to finish
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 15  # not the 30 s grace period


def test_no_instant_watchlist_means_no_instant_delivery():
    """The channel workers ask for the instant watchlists only: none must not mean all (a
    daily digest sent the moment the daemon starts)."""
    hook = Fake("hook")
    outbox = outbox_with_match({"hook": hook})
    assert asyncio.run(outbox.deliver([], ["hook"], due_only=True)) == []
    assert hook.sent == []
