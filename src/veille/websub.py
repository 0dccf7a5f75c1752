"""WebSub (W3C Recommendation, 2018) subscriber decisions, pure: hub discovery, what to
subscribe, renew or unsubscribe given the subscriptions and `now`, which verification
requests to confirm, and the push signature check.

    feed polled  -> discover(headers, parsed)      -> hub + topic recorded (store/websub.py)
    every few s  -> plan(subscriptions, now)       -> subscribe / renew / unsubscribe requests
    hub GET      -> confirm(sub, mode, topic)      -> echo hub.challenge, or 404
    hub POST     -> signature_ok(secret, header, body) -> ingest, or drop (2xx either way)

The I/O around these lives in websub_agent.py (hub requests, pushes) and websub_server.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from urllib.parse import urljoin, urlsplit


class PushState(StrEnum):
    DISCOVERED = "discovered"  # the feed names a hub; not (yet) subscribed
    REQUESTED = "requested"  # subscribe sent, the hub has not verified it yet
    ACTIVE = "active"  # verified; pushes expected until expires_at
    UNSUBSCRIBING = "unsubscribing"  # the feed left the OPML; unsubscribe sent
    DENIED = "denied"  # the hub refused (hub.mode=denied)
    FAILED = "failed"  # the hub did not accept our request; retried at next_attempt


@dataclass(frozen=True)
class Subscription:
    """One feed's push subscription, as stored (table `websub`)."""

    feed_url: str
    hub: str
    topic: str
    token: str  # the callback's last path segment: which subscription a request is for
    secret: str
    state: PushState = PushState.DISCOVERED
    in_opml: bool = True
    lease_seconds: int | None = None
    expires_at: datetime | None = None
    requested_at: datetime | None = None
    next_attempt: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    last_push: datetime | None = None
    pushes: int = 0


@dataclass(frozen=True)
class Request:
    """A request to send to a hub (spec §5.1)."""

    mode: str  # subscribe | unsubscribe
    sub: Subscription


#: A hub that accepted a request but never verified it is asked again after this long.
VERIFY_WITHIN = timedelta(hours=1)
#: How far ahead of expiry a lease is renewed: a tenth of it, at most a day.
RENEW_SHARE = 0.1
RENEW_AT_MOST = timedelta(days=1)
SIGNATURE_METHODS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256,
                     "sha384": hashlib.sha384, "sha512": hashlib.sha512}


# --- discovery (spec §4) --------------------------------------------------------------------

_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,]+)*)')
_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))')


def link_header(value: str) -> list[tuple[str, set[str]]]:
    """RFC 8288 Link header -> [(target, rels)], rels lower-cased (several may share a link)."""
    out = []
    for m in _LINK.finditer(value):
        rels: set[str] = set()
        for p in _PARAM.finditer(m.group(2)):
            if p.group(1).lower() == "rel":
                rels.update((p.group(2) if p.group(2) is not None else p.group(3)).lower().split())
        out.append((m.group(1).strip(), rels))
    return out


def discover(headers: Mapping[str, str], links: Iterable[tuple[str, str]], base: str
             ) -> tuple[str, str] | None:
    """(hub, topic) a fetched feed advertises, or None.

    The Link header comes first, then the feed's own <link rel="hub">/<atom:link rel="hub">
    (`links` as (rel, href)). The topic is rel="self", else the URL the feed was fetched from.
    """
    found: dict[str, str] = {}
    for href, rels in link_header(headers.get("link", "")):
        for rel in ("hub", "self"):
            if rel in rels and href:
                found.setdefault(rel, urljoin(base, href))
    for rel, href in links:
        if rel in ("hub", "self") and href:
            found.setdefault(rel, urljoin(base, href))
    hub = found.get("hub")
    if not hub or urlsplit(hub).scheme not in ("http", "https"):
        return None
    return hub, found.get("self") or base


def callback_url(public_url: str, token: str) -> str:
    """Where the hub sends verifications and pushes for one subscription."""
    return f"{public_url.rstrip('/')}/{token}"


def token_of(path: str) -> str:
    """The subscription token of a request path (the last segment), whatever prefix the
    reverse proxy kept: /websub/abc and /abc are the same subscription."""
    return urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]


# --- what to do now -------------------------------------------------------------------------

def renew_at(sub: Subscription) -> datetime | None:
    """When an active lease is to be renewed: before it expires, by a tenth of it."""
    if sub.expires_at is None:
        return None
    lease = timedelta(seconds=sub.lease_seconds or 0)
    return sub.expires_at - min(lease * RENEW_SHARE, RENEW_AT_MOST)


def plan(subs: Iterable[Subscription], now: datetime) -> tuple[list[Request], list[str]]:
    """Requests to send to hubs now, and feeds whose rows can be forgotten.

    A feed in the OPML is subscribed, retried after a failure, or renewed before expiry; a
    feed that left it is unsubscribed if the hub may be pushing to us, else forgotten.
    """
    requests: list[Request] = []
    forget: list[str] = []
    for sub in subs:
        waiting = sub.next_attempt is not None and sub.next_attempt > now  # backing off
        stale = sub.requested_at is None or sub.requested_at + VERIFY_WITHIN <= now
        if not sub.in_opml:
            if sub.state in (PushState.ACTIVE, PushState.REQUESTED):
                if not waiting:
                    requests.append(Request("unsubscribe", sub))
            elif sub.state != PushState.UNSUBSCRIBING or stale:
                forget.append(sub.feed_url)  # nothing to undo, or the hub never answered
            continue
        if waiting:
            continue
        if sub.state in (PushState.DISCOVERED, PushState.FAILED, PushState.DENIED,
                         PushState.UNSUBSCRIBING) or (
                sub.state == PushState.REQUESTED and stale):
            requests.append(Request("subscribe", sub))
        elif sub.state == PushState.ACTIVE:
            due = renew_at(sub)
            # a renewal sent since the due time waits for its verification (VERIFY_WITHIN)
            asked = due is not None and sub.requested_at is not None and \
                sub.requested_at >= due and not stale
            if due is not None and due <= now and not asked:
                requests.append(Request("subscribe", sub))
    return requests, forget


def confirm(sub: Subscription | None, mode: str, topic: str) -> bool:
    """Echo the challenge only for a topic we asked for, in the mode we asked (spec §5.3):
    anyone can send a verification request, and echoing it would subscribe us to anything."""
    if sub is None or topic != sub.topic:
        return False
    if mode == "subscribe":
        return sub.state in (PushState.REQUESTED, PushState.ACTIVE) and sub.in_opml
    if mode == "unsubscribe":
        return sub.state == PushState.UNSUBSCRIBING
    return False


def signature_ok(secret: str, header: str | None, body: bytes) -> bool:
    """X-Hub-Signature: method=hex-digest of the body, HMAC keyed with our secret (spec §8)."""
    if not header or "=" not in header:
        return False
    method, _, digest = header.strip().partition("=")
    algorithm = SIGNATURE_METHODS.get(method.strip().lower())
    if algorithm is None:
        return False
    expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


def describe(sub: Subscription | None, enabled: bool, tz: tzinfo | None = None,
             now: datetime | None = None) -> str:
    """One phrase for `feeds list`: how this feed's new entries reach us."""
    if sub is None:
        return "poll only"
    if not enabled:
        return f"hub {sub.hub} (push off: no [websub] in the configuration)"
    if sub.state == PushState.ACTIVE and sub.expires_at is not None:
        until = sub.expires_at.astimezone(tz)
        lapsed = now is not None and sub.expires_at <= now
        state = "push lapsed at" if lapsed else "push active until"
        return f"{state} {until:%Y-%m-%d %H:%M} via {sub.hub}"
    if sub.state == PushState.FAILED:
        return f"push failed ({sub.last_error}); retried later, via {sub.hub}"
    return f"push {sub.state} via {sub.hub}"
