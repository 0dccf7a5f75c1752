"""What the spike detector reads and remembers: each watchlist's stories (a story counted once
however many feeds carry it) and its detector state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from ..spikes import SpikeState, Story
from ..stories import DEFAULT_WINDOW
from .base import StoreBase
from .rows import at, iso

#: How far apart the copies of one story can be (the story index's window): copies older than
#: this before `since` cannot make a story of the period look older than it is.
STORY_SPAN = DEFAULT_WINDOW


class SpikeTables(StoreBase):
    def watchlist_stories(self, names: Sequence[str], since: datetime
                          ) -> dict[str, list[Story]]:
        """Per watchlist, its stories whose first copy is dated since `since`, oldest first.

        A story is dated by its first copy (published, which is first-seen for undated
        entries); silent matches count, so a new install learns from its feeds' archives.
        Entries matched before stories existed are each their own story."""
        if not names:
            return {}
        rows = self.db.execute(
            f"""SELECT m.watchlist, COALESCE(es.story_id, e.id) AS story, min(e.published),
                       count(*)
                FROM matches m JOIN entries e ON e.id = m.entry_id
                LEFT JOIN entry_stories es ON es.entry_id = e.id
                WHERE m.watchlist IN ({','.join('?' * len(names))}) AND e.published >= ?
                GROUP BY m.watchlist, story HAVING min(e.published) >= ?
                ORDER BY 3""", [*names, iso(since - STORY_SPAN), iso(since)]).fetchall()
        out: dict[str, list[Story]] = {name: [] for name in names}
        for watchlist, story, first, copies in rows:
            out[watchlist].append(Story(str(story), at(first), copies))
        return out

    def spike_state(self, watchlist: str) -> SpikeState | None:
        row = self.db.execute("SELECT state FROM spike_states WHERE watchlist = ?",
                              [watchlist]).fetchone()
        return SpikeState.from_json(json.loads(row[0])) if row else None

    def save_spike_state(self, watchlist: str, state: SpikeState, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO spike_states (watchlist, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (watchlist) DO UPDATE SET state = excluded.state, "
            "updated_at = excluded.updated_at",
            [watchlist, json.dumps(state.to_json()), iso(now)])
