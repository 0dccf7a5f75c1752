"""Alerts that are not digests (a mention spike, a feed's health change, the weekly health
summary), queued and sent like digests: written before the first attempt, marked delivered
only once the channel accepted them, retried with backoff, never lost.

    decision (spikes.py, health.py) -> Notice -> queue(notice, channels)   one transaction
    channel worker (dispatch.py)    -> send_due(channel) -> channel.send_notice(notice)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .deliver import Channel
from .errors import DeliveryError
from .models import Notice
from .schedule import retry_at
from .store import Store, at, iso

#: A crashed sender's claim on a notice expires after this many seconds.
CLAIM_SECONDS = 600.0


def notice_json(notice: Notice) -> str:
    data: dict[str, Any] = {"id": notice.id, "kind": notice.kind, "subject": notice.subject,
                            "text": notice.text, "payload": notice.payload,
                            "generated_at": iso(notice.generated_at)}
    if notice.html:  # a report's email body and charts (a few hundred kB at most)
        data["html"] = notice.html
        data["images"] = [[name, base64.b64encode(png).decode()] for name, png in notice.images]
    return json.dumps(data, ensure_ascii=False)


def notice_from_json(text: str) -> Notice:
    data = json.loads(text)
    images = tuple((name, base64.b64decode(png)) for name, png in data.get("images", ()))
    return Notice(data["id"], data["kind"], data["subject"], data["text"], data["payload"],
                  at(data["generated_at"]), data.get("html", ""), images)


@dataclass(frozen=True)
class NoticeOutcome:
    notice_id: str
    kind: str
    channel: str
    ok: bool
    detail: str


class NoticeBox:
    def __init__(self, store: Store, channels: Mapping[str, Channel],
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock

    def queue(self, notice: Notice, channels: Iterable[str]) -> None:
        """Record the notice for each channel (inside the caller's transaction, beside the
        decision that made it): a crash after this line sends it later, never not at all."""
        self.store.queue_notice(notice.id, notice.kind, notice_json(notice), list(channels),
                                self.clock())

    async def send_due(self, channel: str) -> list[NoticeOutcome]:
        """Send the notices waiting for `channel` whose retry time has come, oldest first."""
        outcomes = []
        for notice_id, attempts in self.store.due_notices(channel, self.clock()):
            if outcome := await self._send(notice_id, channel, attempts):
                outcomes.append(outcome)
        return outcomes

    async def _send(self, notice_id: str, channel_name: str, attempts: int
                    ) -> NoticeOutcome | None:
        now = self.clock()
        data = self.store.claim_notice(notice_id, channel_name, now, CLAIM_SECONDS)
        if data is None:
            return None  # another process is sending it, or it went out meanwhile
        notice = notice_from_json(data)
        channel = self.channels.get(channel_name)
        try:
            if channel is None:
                raise DeliveryError(channel_name, "not configured any more")
            receipt = await channel.send_notice(notice)
        except DeliveryError as e:
            self.store.notice_failed(notice_id, channel_name, e.message, self.clock(),
                                     retry_at(attempts + 1, self.clock()))
            return NoticeOutcome(notice_id, notice.kind, channel_name, False, e.message)
        self.store.notice_delivered(notice_id, channel_name, self.clock())
        return NoticeOutcome(notice_id, notice.kind, channel_name, True, receipt.detail)
