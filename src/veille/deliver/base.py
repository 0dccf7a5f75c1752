"""What every delivery channel is: a name, a one-line description, and `send`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..digest import Digest
from ..models import Notice


@dataclass(frozen=True)
class Receipt:
    channel: str
    detail: str  # the server's answer: "250 2.0.0 Ok: queued", "HTTP 204"


class Channel(Protocol):
    name: str

    async def send(self, digest: Digest) -> Receipt: ...

    async def send_notice(self, notice: Notice) -> Receipt:
        """An alert (spike, feed health): its subject and text, or its JSON body."""
        ...

    def describe(self) -> str:
        """One line for `veille channels list`, secrets masked."""
        ...
