"""The feed_health table (the state last notified per feed) and the entry history that
staleness is learned from; the decisions are health.py's."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from ..health import HISTORY_ENTRIES, EntryHistory, HealthRecord, HealthState
from .base import StoreBase
from .rows import at, from_iso, iso


def _state(value: str) -> HealthState | str:
    try:
        return HealthState(value)
    except ValueError:  # written by a newer version: kept, it only means "not this state"
        return value


class HealthTables(StoreBase):

    def health_states(self) -> dict[str, HealthRecord]:
        """Every feed's last notified state, by URL; a feed without a row was ok."""
        rows = self._rows("SELECT * FROM feed_health")
        return {r["feed_url"]: HealthRecord(
            r["feed_url"], _state(r["state"]), from_iso(r["since"]), at(r["notified_at"]),
            tuple(json.loads(r["advertised"] or "[]"))) for r in rows}

    def set_health_state(self, feed_url: str, state: HealthState, since: datetime | None,
                         notified_at: datetime, advertised: Iterable[str] = ()) -> None:
        """Remember what was notified; call it in the transaction that queues the alert, so
        that a crash between the two neither loses the alert nor sends it twice."""
        links = list(advertised)
        with self.transaction():
            self.db.execute(
                """INSERT INTO feed_health (feed_url, state, since, notified_at, advertised)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (feed_url) DO UPDATE SET state = excluded.state,
                     since = excluded.since, notified_at = excluded.notified_at,
                     advertised = excluded.advertised""",
                [feed_url, str(state), iso(since), iso(notified_at),
                 json.dumps(links) if links else None])

    def entry_histories(self, limit: int = HISTORY_ENTRIES) -> dict[str, EntryHistory]:
        """Per feed of the OPML, its `limit` latest entries by date, in one query that reads
        only the index entries_feed_published (a seek per feed; no entry row is read, nor
        every entry scanned): cheap for 10,000 feeds."""
        rows = self.db.execute(
            """SELECT f.url, (SELECT group_concat(x.published || ' ' || x.first_seen, ' ')
                             FROM (SELECT published, first_seen FROM entries
                                   WHERE feed_url = f.url ORDER BY published DESC LIMIT ?) x)
               FROM feeds f WHERE f.in_opml = 1""", [int(limit)]).fetchall()
        return {url: _history(pairs) for url, pairs in rows if pairs}


def _history(pairs: str) -> EntryHistory:
    """"published first_seen published first_seen …" -> EntryHistory. ISO timestamps in the
    store's one format sort as strings, so only the latest first_seen is parsed."""
    values = pairs.split(" ")
    published = sorted((at(v) for v in values[0::2]), reverse=True)
    return EntryHistory(tuple(published), at(max(values[1::2])))
