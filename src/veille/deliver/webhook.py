"""Webhook digests: a JSON POST, signed with HMAC-SHA256 when a secret is set.

The signature covers the raw body (`X-Veille-Signature: sha256=<hex>`), as GitHub and
Miniflux do, so receivers verify exactly the bytes they got.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from .. import __version__
from ..config import ChannelSettings
from ..digest import Digest, webhook_payload
from ..errors import DeliveryError
from ..models import Notice
from .base import Receipt


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, settings: ChannelSettings, secret: Callable[[str], str | None]) -> None:
        self.name = settings.name
        self.url = settings.options["url"]
        self.timeout = settings.options.get("timeout", 30.0)
        self.signed = any(f"secret_{how}" in settings.options
                          for how in ("env", "file", "credential"))
        self.secret = secret

    def describe(self) -> str:
        parts = urlsplit(self.url)
        masked = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"
        return f"webhook: POST {masked}/… ({'signed' if self.signed else 'unsigned'})"

    async def send(self, digest: Digest) -> Receipt:
        body = json.dumps(webhook_payload(digest), ensure_ascii=False).encode()
        return await self.post(body, digest.id)

    async def send_notice(self, notice: Notice) -> Receipt:
        body = json.dumps(dict(notice.payload), ensure_ascii=False).encode()
        return await self.post(body, notice.id)

    async def post(self, body: bytes, delivery_id: str) -> Receipt:
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": f"veille/{__version__}", "X-Veille-Delivery": delivery_id}
        if self.signed:
            secret = self.secret("secret")
            if not secret:
                raise DeliveryError(self.name, "no secret: the variable or file is empty")
            headers["X-Veille-Signature"] = sign(body, secret)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError(self.name, f"no answer within {self.timeout:g}s") from None
        except httpx.HTTPError as e:
            raise DeliveryError(self.name, f"cannot reach {urlsplit(self.url).hostname}: "
                                f"{e}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(self.name, f"HTTP {response.status_code} "
                                f"{response.reason_phrase}: {response.text[:200]}")
        return Receipt(self.name, f"HTTP {response.status_code} {response.reason_phrase}")
