"""The websub table: the hub each feed advertises and our subscription to it."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..websub import PushState, Subscription
from .base import StoreBase
from .rows import from_iso, iso

_SELECT = """SELECT w.*, coalesce(f.in_opml, 0) AS in_opml FROM websub w
             LEFT JOIN feeds f ON f.url = w.feed_url"""


def _subscription(row: dict[str, Any]) -> Subscription:
    return Subscription(
        feed_url=row["feed_url"], hub=row["hub"], topic=row["topic"], token=row["token"],
        secret=row["secret"], state=PushState(row["state"]), in_opml=bool(row["in_opml"]),
        lease_seconds=row["lease_seconds"], expires_at=from_iso(row["expires_at"]),
        requested_at=from_iso(row["requested_at"]), next_attempt=from_iso(row["next_attempt"]),
        failures=row["failures"], last_error=row["last_error"],
        last_push=from_iso(row["last_push"]), pushes=row["pushes"])


class WebSubTables(StoreBase):
    def note_hub(self, feed_url: str, found: tuple[str, str] | None) -> None:
        """Record the (hub, topic) a poll found. A new hub or topic is a new subscription, with
        a new callback token and secret (the old one lapses at its hub); no hub, no row,
        unless we are subscribed: a hub missing from one answer is not a reason to leave."""
        row = self.db.execute("SELECT hub, topic, state FROM websub WHERE feed_url = ?",
                              [feed_url]).fetchone()
        if found is None:
            if row is not None and row[2] == PushState.DISCOVERED:
                self.db.execute("DELETE FROM websub WHERE feed_url = ?", [feed_url])
            return
        if row is not None and (row[0], row[1]) == found:
            return
        self.db.execute("DELETE FROM websub WHERE feed_url = ?", [feed_url])
        self.db.execute(
            "INSERT INTO websub (feed_url, hub, topic, token, secret) VALUES (?, ?, ?, ?, ?)",
            [feed_url, found[0], found[1], secrets.token_urlsafe(24), secrets.token_hex(32)])

    def subscriptions(self) -> list[Subscription]:
        return [_subscription(r) for r in self._rows(f"{_SELECT} ORDER BY w.rowid", [])]

    def subscription(self, token: str) -> Subscription | None:
        rows = self._rows(f"{_SELECT} WHERE w.token = ?", [token])
        return _subscription(rows[0]) if rows else None

    def update_subscription(self, feed_url: str, **values: Any) -> None:
        values = {k: iso(v) if isinstance(v, datetime) else v for k, v in values.items()}
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        with self.transaction():
            self.db.execute(f"UPDATE websub SET {assignments} WHERE feed_url = :url__",
                            {**values, "url__": feed_url})

    def forget_subscriptions(self, feed_urls: Iterable[str]) -> None:
        with self.transaction():
            for url in feed_urls:
                self.db.execute("DELETE FROM websub WHERE feed_url = ?", [url])
