"""The matches table: which watchlist matched which entry, with its terms and snippet."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..match import MatchResult
from ..models import StoredMatch
from .base import StoreBase
from .rows import _ENTRY_SELECT, _stored_entry, at, iso, json_strings

_INSERT = ("INSERT INTO matches (watchlist, entry_id, terms, snippet, matched_at, silent) "
           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (watchlist, entry_id) DO NOTHING")


class MatchTables(StoreBase):

    def add_matches(self, results: Iterable[tuple[MatchResult, bool]], now: datetime,
                    alerting: list[str] | None = None) -> int:
        """Record (match, silent) pairs; an entry already matched by a watchlist is left alone,
        so an entry edited by its feed never alerts twice. Returns how many were new;
        `alerting` gets the watchlist of each new one that is not silent (for the log)."""
        added = 0
        matched_at = iso(now)
        execute = self.db.conn.execute
        for m, silent in results:
            cursor = execute(_INSERT, (m.watchlist, m.entry_id, json_strings(m.terms), m.snippet,
                                       matched_at, int(silent)))
            added += cursor.rowcount
            if alerting is not None and cursor.rowcount and not silent:
                alerting.append(m.watchlist)
        return added

    def match_counts(self, since: datetime) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT watchlist, count(*) FROM matches WHERE matched_at >= ? AND silent = 0 "
            "GROUP BY watchlist", [iso(since)])
        return dict(rows.fetchall())

    def matched_entries(self, watchlists: Sequence[str] | None = None, *,
                        since: datetime | None = None, pending_for: Sequence[str] = (),
                        matched_since: datetime | None = None, unbatched_for: str | None = None,
                        match_ids: Sequence[int] | None = None,
                        include_silent: bool = False) -> list[StoredMatch]:
        """Matches with their entries, newest first.

        `pending_for`: only those some of these channels has not accepted yet.
        `unbatched_for`: only those not yet put in a delivery batch for that channel.
        """
        where: list[str] = ["1"]
        params: list[Any] = []
        if watchlists is not None:
            where.append(f"m.watchlist IN ({','.join('?' * len(watchlists))})")
            params += list(watchlists)
        if match_ids is not None:
            where.append(f"m.id IN ({','.join('?' * len(match_ids))})")
            params += list(match_ids)
        if since is not None:
            where.append("sub.first_seen >= ?")
            params.append(iso(since))
        if matched_since is not None:
            where.append("m.matched_at >= ?")
            params.append(iso(matched_since))
        if not include_silent:
            where.append("m.silent = 0")
        if pending_for:
            where.append("(" + " OR ".join(
                "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.match_id = m.id "
                "AND d.channel = ? AND d.delivered_at IS NOT NULL)" for _ in pending_for) + ")")
            params += list(pending_for)
        if unbatched_for is not None:
            where.append("NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.match_id = m.id "
                         "AND d.channel = ?)")
            params.append(unbatched_for)
        rows = self._rows(
            f"""SELECT m.id AS match_id, m.watchlist, m.terms AS match_terms, m.snippet,
                       m.matched_at, m.silent, es.story_id AS story_id, sub.*
                FROM matches m JOIN ({_ENTRY_SELECT}) sub ON sub.id = m.entry_id
                LEFT JOIN entry_stories es ON es.entry_id = m.entry_id
                WHERE {' AND '.join(where)}
                ORDER BY sub.published DESC, sub.id DESC""", params)
        return [StoredMatch(id=r["match_id"], watchlist=r["watchlist"],
                            terms=tuple(json.loads(r["match_terms"])), snippet=r["snippet"],
                            matched_at=at(r["matched_at"]), silent=bool(r["silent"]),
                            entry=_stored_entry(r), story_id=r["story_id"]) for r in rows]

