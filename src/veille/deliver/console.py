"""The built-in console channel: the digest as text on stdout (the journal under systemd)."""

from __future__ import annotations

from typing import TextIO

from ..digest import Digest, render_text, subject
from ..models import Notice
from .base import Receipt


class ConsoleChannel:
    def __init__(self, name: str, stream: TextIO) -> None:
        self.name = name
        self.stream = stream

    async def send(self, digest: Digest) -> Receipt:
        self.stream.write(f"{subject(digest)}\n\n{render_text(digest)}")
        self.stream.flush()
        return Receipt(self.name, "printed")

    async def send_notice(self, notice: Notice) -> Receipt:
        self.stream.write(f"{notice.subject}\n\n{notice.text.rstrip()}\n")
        self.stream.flush()
        return Receipt(self.name, "printed")

    def describe(self) -> str:
        return "console: prints digests on standard output"
