"""Delivery channels behind one small Protocol: email, webhook, Apprise, console.

A channel's `send` returns a Receipt saying what the server answered, or raises
DeliveryError with the reason; it never marks anything itself (the outbox does, after).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from ..config import ChannelSettings
from .base import Channel, Receipt
from .console import ConsoleChannel

__all__ = ["Channel", "Receipt", "build_channel"]


def build_channel(settings: ChannelSettings, secret: Callable[[str], str | None],
                  stdout: TextIO) -> Channel:
    """`secret(key)` reads a channel secret at the moment of use (see config.read_secret)."""
    if settings.type == "console":
        return ConsoleChannel(settings.name, stdout)
    # imported when a channel of the kind is built: Apprise alone loads hundreds of modules
    kind: Callable[..., Channel]
    if settings.type == "email":
        from .email import EmailChannel as kind
    elif settings.type == "webhook":
        from .webhook import WebhookChannel as kind
    else:
        from .apprise import AppriseChannel as kind
    return kind(settings, secret)
