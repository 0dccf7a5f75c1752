"""The notices table: alerts that are not digests, one row per (notice, channel)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .base import StoreBase
from .rows import iso


class NoticeTables(StoreBase):
    def queue_notice(self, notice_id: str, kind: str, body: str, channels: Sequence[str],
                     now: datetime) -> None:
        """A notice already queued (same id: the same episode or transition) is not repeated."""
        for channel in channels:
            self.db.execute(
                "INSERT INTO notices (id, channel, kind, body, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id, channel) DO NOTHING",
                [notice_id, channel, kind, body, iso(now)])

    def due_notices(self, channel: str, now: datetime) -> list[tuple[str, int]]:
        rows = self.db.execute(
            "SELECT id, attempts FROM notices WHERE channel = ? AND delivered_at IS NULL "
            "AND (next_attempt IS NULL OR next_attempt <= ?) ORDER BY created_at, id",
            [channel, iso(now)]).fetchall()
        return [(r[0], r[1]) for r in rows]

    def claim_notice(self, notice_id: str, channel: str, now: datetime, seconds: float
                     ) -> str | None:
        """The notice's body if we may send it now (see DeliveryTables.claim_batch)."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE notices SET claimed_until = ? WHERE id = ? AND channel = ? "
                "AND delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)",
                [iso(now + timedelta(seconds=seconds)), notice_id, channel, iso(now)])
            if not cursor.rowcount:
                return None
            row = self.db.execute("SELECT body FROM notices WHERE id = ? AND channel = ?",
                                  [notice_id, channel]).fetchone()
        return str(row[0])

    def notice_delivered(self, notice_id: str, channel: str, now: datetime) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE notices SET delivered_at = ?, attempts = attempts + 1, last_error = NULL, "
                "next_attempt = NULL, claimed_until = NULL WHERE id = ? AND channel = ?",
                [iso(now), notice_id, channel])

    def notice_failed(self, notice_id: str, channel: str, error: str, now: datetime,
                      next_attempt: datetime) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE notices SET attempts = attempts + 1, last_error = ?, next_attempt = ?, "
                "claimed_until = NULL WHERE id = ? AND channel = ?",
                [error, iso(next_attempt), notice_id, channel])

    def notices(self, kind: str | None = None) -> list[dict[str, object]]:
        """Every notice row (for `status` and tests), oldest first."""
        sql = "SELECT * FROM notices"
        params: list[object] = []
        if kind is not None:
            sql += " WHERE kind = ?"
            params.append(kind)
        return self._rows(sql + " ORDER BY created_at, id", params)
