"""The report behind `veille status`: daemon, polls, feeds, channels, digests, as plain data."""

from __future__ import annotations

from typing import Any

from .app import App
from .store import from_iso


def build_status(app: App, running: bool) -> dict[str, Any]:
    store = app.store
    feeds = store.feeds()
    problems = [{"url": f.url, "status": f.status,
                 "error": f.error_message, "since": f.error_since, "moved_to": f.moved_to}
                for f in feeds if f.failures or f.gone or f.moved_to]
    statuses = [f.status for f in feeds]
    channels = []
    summary = store.delivery_summary()
    for name in app.settings.channels:
        row = summary.get(name, {})
        channels.append({"name": name, "pending": row.get("pending", 0),
                         "failed": row.get("failed", 0) or 0,
                         "last_error": row.get("last_error"),
                         "next_attempt": from_iso(row.get("next_attempt")),
                         "last_delivered": from_iso(row.get("last_delivered"))})
    watchlists = [{"name": w.name, "schedule": w.schedule, "enabled": w.enabled,
                   "next_digest": from_iso(store.get_meta(f"digest_next:{w.name}"))}
                  for w in app.watchlists()]
    attention = []
    if not running:
        attention.append("the daemon is not running")
    attention += [f"channel {c['name']} has {c['failed']} failed deliveries: {c['last_error']}"
                  for c in channels if c["failed"]]
    return {
        "daemon": {"running": running, "pid": store.get_meta("daemon_pid") if running else None,
                   "started": from_iso(store.get_meta("daemon_started")),
                   "last_poll": from_iso(store.get_meta("last_poll")),
                   "next_poll": from_iso(store.get_meta("next_poll"))},
        "feeds": {"total": len(feeds), "ok": statuses.count("ok"),
                  "failing": statuses.count("failing"), "gone": statuses.count("gone"),
                  "new": statuses.count("new"), "moved": sum(1 for f in feeds if f.moved_to),
                  "problems": problems},
        "channels": channels,
        "watchlists": watchlists,
        "attention": attention,
    }
