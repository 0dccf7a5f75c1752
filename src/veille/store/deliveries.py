"""The deliveries table: the outbox of batches, their claims, attempts and outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..models import OpenBatch
from .base import StoreBase
from .rows import from_iso, iso


class DeliveryTables(StoreBase):

    def create_batch(self, batch_id: str, channel: str, match_ids: Sequence[int]) -> None:
        """Put matches in a batch before the first attempt: a retry resends the same batch,
        with the same id, so receivers can drop the duplicate a crash may cause."""
        with self.transaction():
            for match_id in match_ids:
                self.db.execute(
                    "INSERT INTO deliveries (match_id, channel, batch_id) VALUES (?, ?, ?) "
                    "ON CONFLICT (match_id, channel) DO NOTHING", [match_id, channel, batch_id])

    def open_batches(self, channel: str, watchlist: str | None = None
                     ) -> list[OpenBatch]:
        """Batches not yet accepted by `channel`, oldest first."""
        sql = """SELECT d.batch_id, m.watchlist, group_concat(d.match_id) AS ids,
                        max(d.attempts) AS attempts, max(d.next_attempt) AS next_attempt,
                        max(d.last_error) AS last_error, min(d.id) AS first
                 FROM deliveries d JOIN matches m ON m.id = d.match_id
                 WHERE d.channel = ? AND d.delivered_at IS NULL"""
        params: list[Any] = [channel]
        if watchlist is not None:
            sql += " AND m.watchlist = ?"
            params.append(watchlist)
        rows = self._rows(sql + " GROUP BY d.batch_id, m.watchlist ORDER BY first", params)
        return [OpenBatch(r["batch_id"], r["watchlist"], channel,
                          tuple(int(i) for i in r["ids"].split(",")), r["attempts"],
                          from_iso(r["next_attempt"]), r["last_error"]) for r in rows]

    def claim_batch(self, batch_id: str, channel: str, now: datetime, until: datetime) -> bool:
        """Take the batch for sending; False if another process holds an unexpired claim (or it
        was delivered meanwhile). A crashed sender's claim expires at `until`."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE deliveries SET claimed_until = ? WHERE batch_id = ? AND channel = ? "
                "AND delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)",
                [iso(until), batch_id, channel, iso(now)])
        return cursor.rowcount > 0

    def mark_delivered(self, batch_id: str, channel: str, now: datetime) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE deliveries SET delivered_at = ?, attempts = attempts + 1, "
                "last_attempt = ?, last_error = NULL, next_attempt = NULL, claimed_until = NULL "
                "WHERE batch_id = ? AND channel = ?", [iso(now), iso(now), batch_id, channel])

    def mark_failed(self, batch_id: str, channel: str, error: str, now: datetime,
                    next_attempt: datetime) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_attempt = ?, "
                "last_error = ?, next_attempt = ?, claimed_until = NULL "
                "WHERE batch_id = ? AND channel = ?",
                [iso(now), error, iso(next_attempt), batch_id, channel])

    def pending_count(self, watchlist: str, channel: str, matched_since: datetime) -> int:
        """Matches of `watchlist` that `channel` has not accepted yet, batched or not."""
        return self.db.execute(
            """SELECT count(*) FROM matches m WHERE m.watchlist = ? AND m.silent = 0
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.match_id = m.id
                               AND d.channel = ? AND d.delivered_at IS NOT NULL)
               AND (m.matched_at >= ? OR EXISTS (SELECT 1 FROM deliveries d
                    WHERE d.match_id = m.id AND d.channel = ?))""",
            [watchlist, channel, iso(matched_since), channel]).fetchone()[0]

    def delivery_summary(self) -> dict[str, dict[str, Any]]:
        """Per channel: matches waiting in failed batches, the last error, and when it failed."""
        rows = self._rows(
            """SELECT channel, count(*) AS pending,
                      sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS failed,
                      max(last_error) AS last_error, max(last_attempt) AS last_attempt,
                      min(next_attempt) AS next_attempt
               FROM deliveries WHERE delivered_at IS NULL GROUP BY channel""")
        delivered = dict(self.db.execute(
            "SELECT channel, max(delivered_at) FROM deliveries GROUP BY channel").fetchall())
        out = {r["channel"]: {**r, "last_delivered": delivered.get(r["channel"])} for r in rows}
        for channel, when in delivered.items():
            out.setdefault(channel, {"channel": channel, "pending": 0, "failed": 0,
                                     "last_error": None, "last_attempt": None,
                                     "next_attempt": None, "last_delivered": when})
        return out
