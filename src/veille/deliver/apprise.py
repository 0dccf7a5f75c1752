"""Chat and push services (Slack, Discord, Mattermost, Teams, Telegram, ntfy…) via Apprise."""

from __future__ import annotations

from collections.abc import Callable

import apprise

from ..config import ChannelSettings
from ..digest import Digest, short_text, subject
from ..errors import DeliveryError
from ..models import Notice
from .base import Receipt


class AppriseChannel:
    def __init__(self, settings: ChannelSettings, secret: Callable[[str], str | None]) -> None:
        self.name = settings.name
        self.urls = list(settings.options["urls"])

    def describe(self) -> str:
        # service URLs carry their tokens: show only the service
        return "apprise: " + ", ".join(u.split("://")[0] + "://…" for u in self.urls)

    async def send(self, digest: Digest) -> Receipt:
        return await self.notify(subject(digest), short_text(digest))

    async def send_notice(self, notice: Notice) -> Receipt:
        return await self.notify(notice.subject, notice.text)

    async def notify(self, title: str, body: str) -> Receipt:
        client = apprise.Apprise()
        for url in self.urls:
            if not client.add(url):
                raise DeliveryError(self.name, f"not an Apprise URL: {url.split('://')[0]}://…")
        if not await client.async_notify(body=body, title=title):
            raise DeliveryError(self.name, "the service refused the notification "
                                "(see the log for Apprise's reason)")
        return Receipt(self.name, f"accepted by {len(self.urls)} service(s)")
