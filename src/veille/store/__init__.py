"""The SQLite edge, one module per table family:

    base.py        connections (one per thread), BEGIN IMMEDIATE transactions, meta
    schema.py      migrations
    rows.py        rows <-> dataclasses, the one timestamp format
    feeds.py       feeds and their fetch state
    entries.py     entries, deduplicated and updated in place
    matches.py     which watchlist matched which entry
    reports.py     what a report counts (report/)
    deliveries.py  the outbox of delivery batches
    search.py      the FTS5 index behind `veille search`
    websub.py      hubs the feeds advertise, our push subscriptions

WAL mode and a busy timeout let the CLI read while the daemon writes.
"""

from __future__ import annotations

from .deliveries import DeliveryTables
from .entries import EntryTables
from .feeds import FeedTables
from .health import HealthTables
from .matches import MatchTables
from .moves import MoveTables
from .notices import NoticeTables
from .reports import ReportTables
from .rows import EntryChange, at, from_iso, iso
from .schema import migrations
from .search import SearchTables
from .spikes import SpikeTables
from .stories import StoryTables
from .websub import WebSubTables

__all__ = ["EntryChange", "Store", "at", "from_iso", "iso", "migrations"]


class Store(FeedTables, EntryTables, MatchTables, DeliveryTables, MoveTables, NoticeTables,
            HealthTables, StoryTables, SpikeTables, WebSubTables, ReportTables, SearchTables):
    """Everything veille keeps, behind one object; each table family lives in its own module."""
