"""The report behind `veille status`: daemon, polls, feeds, channels, digests, as plain data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .app import App
from .errors import OpmlError
from .outbox import PENDING_HORIZON, channels_of
from .outcomes import FeedStatus
from .store import from_iso
from .watchlists import Watchlist


def build_status(app: App, running: bool) -> dict[str, Any]:
    store = app.store
    feeds = store.feeds()
    problems = [{"url": f.url, "status": f.status,
                 "error": f.error_message, "since": f.error_since, "moved_to": f.moved_to}
                for f in feeds if f.failures or f.gone or f.moved_to]
    statuses = [f.status for f in feeds]
    channels = []
    summary = store.delivery_summary()
    lists = app.watchlists()
    horizon = app.clock() - PENDING_HORIZON
    for name in app.settings.channels:
        row = summary.get(name, {})
        pending = sum(store.pending_count(w.name, name, horizon) for w in lists
                      if w.enabled and name in channels_of(w))
        channels.append({"name": name, "pending": pending,
                         "failed": row.get("failed", 0) or 0,
                         "last_error": row.get("last_error"),
                         "next_attempt": from_iso(row.get("next_attempt")),
                         "last_delivered": from_iso(row.get("last_delivered"))})
    watchlists = [{"name": w.name, "schedule": w.schedule, "enabled": w.enabled,
                   "next_digest": from_iso(store.get_meta(f"digest_next:{w.name}"))}
                  for w in lists]
    attention = []
    if not running:
        attention.append("the daemon is not running")
    try:
        app.opml()
    except OpmlError as e:  # the daemon polls the last good version meanwhile
        attention.append(f"{e} (the daemon keeps the feeds of the last version it could read)")
    attention += [f"channel {c['name']} has {c['failed']} failed deliveries: {c['last_error']}"
                  for c in channels if c["failed"]]
    removed = removed_watchlists(app, lists, horizon)
    attention += [f"watchlist {r['name']} was removed from {app.settings.watchlists.name} with "
                  f"{r['pending']} matches not delivered (kept: they go out if it comes back)"
                  for r in removed]
    return {
        "daemon": {"running": running, "pid": store.get_meta("daemon_pid") if running else None,
                   "started": from_iso(store.get_meta("daemon_started")),
                   "last_poll": from_iso(store.get_meta("last_poll")),
                   "next_poll": from_iso(store.get_meta("next_poll")),
                   "parser_crashes": int(store.get_meta("events:parser_crash") or 0),
                   "parse_timeouts": int(store.get_meta("events:parse_timeout") or 0)},
        "feeds": {"total": len(feeds), "ok": statuses.count(FeedStatus.OK),
                  "failing": statuses.count(FeedStatus.FAILING),
                  "gone": statuses.count(FeedStatus.GONE),
                  "new": statuses.count(FeedStatus.NEW),
                  "moved": sum(1 for f in feeds if f.moved_to),
                  "problems": problems},
        "channels": channels,
        "watchlists": watchlists,
        "report": {"schedule": app.settings.report.schedule,
                   "last": from_iso(store.get_meta("report_last")),
                   "next": from_iso(store.get_meta("report_next"))},
        "removed_watchlists": removed,
        "attention": attention,
    }


def removed_watchlists(app: App, lists: list[Watchlist], horizon: datetime
                       ) -> list[dict[str, Any]]:
    """Names in the database, gone from the file, with matches that would still go out.

    Renaming a watchlist by hand strands its pending matches under the old name: they stay in
    the database (and are delivered if the name comes back), but the user must be told.
    """
    names = {w.name for w in lists}
    waiting = app.store.undelivered_matches(horizon)
    return [{"name": name, "pending": count} for name, count in sorted(waiting.items())
            if name not in names and count]
