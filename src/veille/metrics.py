"""Edge: what the daemon tells monitoring systems, as Prometheus metrics on /metrics and a
/healthz that answers 200 while the scheduler runs and the database answers, 503 otherwise.

Two kinds of numbers. What this process saw (polls, fetch durations, new entries, deliveries,
alerts) is counted as it happens and starts from zero at each start, as Prometheus counters
do. What the database holds (feeds by state, matches per watchlist, deliveries waiting, the
last successful poll) is read at each scrape, so it is right after a restart too.

The server is one thread answering one request at a time: each thread gets its own SQLite
connection (store/base.py), so a thread per request would open one connection per scrape.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .errors import ConfigError
from .models import FeedOutcome
from .outbox import PENDING_HORIZON, channels_of
from .outcomes import FeedStatus, OutcomeStatus
from .store import Store, from_iso
from .watchlists import Watchlist

log = logging.getLogger("veille")

#: Fetches take from a few milliseconds (a local 304) to the fetch timeout (30 s by default)
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: /healthz says the scheduler stopped when its every-second job has not run for this long
STALE_SCHEDULER = 30.0


class Metrics:
    """The counters this process keeps, in a registry of its own (tests run several)."""

    def __init__(self, stored: Callable[[], StoredCounts] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("veille_polls", "Feed polls, by outcome.", ["outcome"], registry=r)
        for status in OutcomeStatus:
            self.polls.labels(status.value)
        self.fetch_seconds = Histogram("veille_fetch_duration_seconds",
                                       "Time each feed's HTTP exchange took.",
                                       buckets=FETCH_BUCKETS, registry=r)
        self.new_entries = Counter("veille_new_entries", "New entries stored.", registry=r)
        self.deliveries = Counter("veille_deliveries", "Digest and alert batches sent, by "
                                  "channel and result (ok, failed).", ["channel", "result"],
                                  registry=r)
        self.alerts = Counter("veille_alerts_sent", "Spike and feed health alerts sent, by "
                              "kind (spike, health, health_summary).", ["kind"], registry=r)
        for kind in ("spike", "health", "health_summary"):
            self.alerts.labels(kind)
        if stored is not None:
            r.register(StoredCollector(stored))

    def observe(self, outcome: FeedOutcome) -> None:
        self.polls.labels(outcome.status.value).inc()
        self.new_entries.inc(outcome.new_entries)
        if outcome.fetch_seconds is not None:
            self.fetch_seconds.observe(outcome.fetch_seconds)

    def delivered(self, channel: str, ok: bool) -> None:
        self.deliveries.labels(channel, "ok" if ok else "failed").inc()

    def alert_sent(self, kind: str, channel: str, ok: bool) -> None:
        self.delivered(channel, ok)
        if ok:
            self.alerts.labels(kind).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# --- what the database holds, read at each scrape ---------------------------------------------

@dataclass(frozen=True)
class StoredCounts:
    feeds: dict[str, int] = field(default_factory=dict)  # by FeedStatus
    matches: dict[str, int] = field(default_factory=dict)  # per watchlist, ever stored
    pending: dict[str, int] = field(default_factory=dict)  # per channel, not yet accepted
    failed: dict[str, int] = field(default_factory=dict)  # per channel, in failed batches
    last_success: datetime | None = None


def stored_counts(store: Store, watchlists: Sequence[Watchlist], channels: Sequence[str],
                  now: datetime) -> StoredCounts:
    """The numbers `veille status` shows, as the gauges a dashboard plots."""
    feeds = {s.value: 0 for s in FeedStatus}
    for feed in store.feeds(counts=False, all_feeds=True):
        feeds[feed.status.value] += 1
    matches = dict(store.db.execute("SELECT watchlist, count(*) FROM matches "
                                    "WHERE silent = 0 GROUP BY watchlist").fetchall())
    horizon = now - PENDING_HORIZON
    pending = {c: sum(store.pending_count(w.name, c, horizon) for w in watchlists
                      if w.enabled and c in channels_of(w)) for c in channels}
    summary = store.delivery_summary()
    failed = {c: int(summary.get(c, {}).get("failed") or 0) for c in channels}
    last = store.db.execute("SELECT max(last_success) FROM feeds").fetchone()[0]
    return StoredCounts(feeds, matches, pending, failed, from_iso(last))


class StoredCollector:
    def __init__(self, read: Callable[[], StoredCounts]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.read()
        except sqlite3.Error as e:  # /healthz says so; the process counters still go out
            log.debug("metrics: cannot read the database: %s", e)
            return
        yield _labelled(GaugeMetricFamily, "veille_feeds", "Feeds by state.", "state",
                        counts.feeds)
        yield _labelled(CounterMetricFamily, "veille_matches", "Matches stored (not the "
                        "silent ones of a first fetch), by watchlist.", "watchlist",
                        counts.matches)
        yield _labelled(GaugeMetricFamily, "veille_deliveries_pending", "Matches a channel "
                        "has not accepted yet.", "channel", counts.pending)
        yield _labelled(GaugeMetricFamily, "veille_deliveries_failed", "Matches waiting in "
                        "batches that failed at least once.", "channel", counts.failed)
        last = GaugeMetricFamily("veille_last_successful_poll_timestamp_seconds",
                                 "When a feed was last fetched successfully (Unix time).")
        if counts.last_success is not None:
            last.add_metric([], counts.last_success.timestamp())
        yield last


def _labelled(family: Any, name: str, doc: str, label: str, values: dict[str, int]) -> Metric:
    metric = family(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        metric.add_metric([key], value)
    return metric


def daemon_health(stopping: bool, scheduler_running: bool, idle: float,
                  store: Store) -> str | None:
    """Why /healthz answers 503, or None: the scheduler runs (its every-second job ran less
    than STALE_SCHEDULER seconds ago) and the database answers a query."""
    if stopping:
        return "stopping"
    if not scheduler_running or idle > STALE_SCHEDULER:
        return f"the scheduler has not run a job for {idle:.0f} s"
    try:
        store.db.execute("SELECT count(*) FROM meta").fetchone()
    except Exception as e:
        return f"the database does not answer: {e}"
    return None


# --- the HTTP endpoint ------------------------------------------------------------------------

class MetricsServer:
    """/metrics and /healthz on `address`, in a thread of its own.

    `health` returns None when all is well, else the reason /healthz answers 503.
    """

    def __init__(self, address: tuple[str, int], metrics: Metrics,
                 health: Callable[[], str | None]) -> None:
        self.metrics = metrics
        self.health = health
        try:
            self.httpd = HTTPServer(address, _handler(self))
        except OSError as e:
            raise ConfigError(None, "metrics.listen", f"cannot listen on "
                              f"{address[0]}:{address[1]}: {e.strerror or e}") from None
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics",
                                       daemon=True)

    @property
    def url(self) -> str:
        address = self.httpd.server_address
        host, port = str(address[0]), int(address[1])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def _handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that connects and says nothing must not hold the only thread

        def log_message(self, *args: Any) -> None:
            pass  # a scrape every 15 s is not news

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, server.metrics.exposition())
            elif path == "/healthz":
                try:
                    reason = server.health()
                except Exception as e:  # a health check that fails is an unhealthy daemon
                    reason = f"health check failed: {e}"
                body = f"{reason or 'ok'}\n".encode()
                self._send(503 if reason else 200, "text/plain; charset=utf-8", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"try /metrics or /healthz\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler

