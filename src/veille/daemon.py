"""`veille run`: one asyncio process where APScheduler drives polling, digests, retries and
housekeeping, reloading its files live and speaking sd_notify to systemd.

    start: lock the database, load config/OPML/watchlists, READY=1
    jobs:  poll      at the earliest due time of the feeds not in flight (poller.py: no pass
                     barrier, a slow feed holds only itself)
           digest:W  at watchlist W's next schedule slot (a missed slot runs once)
           report    at [report] schedule's next slot (report_watch.py), likewise
           retry     every 30 s: wake the channel workers for backoffs that expired
           reload    every second: did a file change? (and on SIGHUP)
           heartbeat proof for the watchdog that the scheduler fires jobs
           index     every 5 s: the new entries into the search index, in batches
           summary   every minute: one log line, if anything happened (activity.py)
           housekeep every 6 hours: retention, PRAGMA optimize, freed pages given back
           websub    every 5 s, with [websub]: subscribe, renew, unsubscribe (websub_agent.py)
    tasks: one delivery worker per channel (dispatch.py): instant alerts leave as soon as
           their feed is stored; a hung channel delays only itself
           the watchdog pinger: WATCHDOG=1 only while progress is made (watchdog.py)
    thread: /metrics and /healthz, when [metrics] listen is set (metrics.py)
    stop:  SIGTERM/SIGINT -> STOPPING=1, in-flight work gets a few seconds, exit 0
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .activity import Activity
from .app import App, utcnow
from .config import Settings, load_settings
from .daemon_lock import DaemonLock
from .daemon_sending import SendingJobs
from .daemon_upkeep import Upkeep
from .dispatch import Dispatcher, settle
from .errors import VeilleError
from .feed_slots import FeedSlots
from .fetch import Fetcher
from .health_watch import HealthWatch
from .match import Matcher
from .metrics import Metrics, MetricsServer, stored_counts
from .models import FeedOutcome, FeedState, PassSummary
from .notices import NoticeBox
from .notify import Notifier, watchdog_interval
from .outbox import Outbox
from .outcomes import OutcomeStatus
from .pipeline import FeedPass, feed_slots
from .poller import Poller
from .report_watch import ReportWatch
from .schedule import first_poll
from .spike_watch import SpikeWatch
from .store import iso
from .stories import StoryIndex
from .watchdog import Watchdog
from .watchlists import Watchlist, build_matcher
from .websub_agent import WebSubAgent

log = logging.getLogger("veille")

STOP_GRACE = 5.0  # seconds in-flight work gets after SIGTERM before it is cancelled
RELOAD_CHECK = 1.0
RETRY_EVERY = 30.0
HOUSEKEEPING_EVERY = 6 * 3600.0
SUMMARY_EVERY = 60.0
INDEX_EVERY = 5.0  # the search backlog is indexed this often (store/search.py)
WEBSUB_EVERY = 5.0
CHECK_EVERY = 300.0  # spikes and feed health are looked at this often…
SOON = 10.0  # …and after a poll that found matches, at most this often
HEALTH_SOON = 60.0  # …or failures (assessing 10,000 feeds takes about a second)
#: What a feed's poll may take beyond its fetch and parse bounds (store writes wait for the lock)
POLL_SLACK = 120.0


@dataclass(frozen=True)
class Loaded:
    """One consistent view of the user's files; replaced whole on a successful reload."""

    settings: Settings
    watchlists: list[Watchlist]
    matcher: Matcher
    stamps: tuple[tuple[str, float], ...]


def _stamps(settings: Settings) -> tuple[tuple[str, float], ...]:
    paths = [settings.config_file, settings.feeds, settings.watchlists]
    out = []
    for p in paths:
        if p is None:
            continue
        try:
            stat = Path(p).stat()
            out.append((str(p), stat.st_mtime_ns + stat.st_size))
        except OSError:
            out.append((str(p), -1))
    return tuple(out)


class Daemon(SendingJobs, Upkeep):
    def __init__(self, config: Path | None, env: Mapping[str, str], stdout: TextIO,
                 clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.env = env
        self.stdout = stdout
        self.rng = rng or random.Random()
        self.loaded = self._load()
        self.app = App(self.loaded.settings, clock=clock or utcnow, rng=self.rng)
        self.clock = self.app.clock
        self.notifier = Notifier.from_env(env)
        self.lock = DaemonLock(self.loaded.settings.lock_file)
        self.scheduler: AsyncIOScheduler | None = None
        self.stopping = asyncio.Event()
        self.reload_requested = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.parser = self.app.parser_pool()
        self.feed_slots: FeedSlots | None = None  # shared by the passes of all ticks
        self.fetcher: Fetcher | None = None
        self.outbox: Outbox | None = None
        self.websub: WebSubAgent | None = None
        self.activity = Activity()
        self.metrics = Metrics(lambda: stored_counts(
            self.app.store, self.loaded.watchlists, list(self.loaded.settings.channels),
            self.clock()))
        self.metrics_server: MetricsServer | None = None
        self.last_beat = time.monotonic()  # the every-second reload job's last run
        self.watchdog = Watchdog(stall_after=self._poll_bound())
        self.poller = Poller(
            due=lambda now: self.app.store.due_feeds(now),
            upcoming=lambda now: self.app.store.next_due_after(now),
            feed_due=lambda url: self.app.store.feed_next_due(url),  # once per feed polled
            run_batch=self._run_batch, schedule_tick=self._schedule_tick,
            on_feed=self._feed_done, on_batch=self._batch_done, clock=self.clock)
        self.notices: NoticeBox | None = None
        self.stories: StoryIndex | None = None
        self.spike_watch: SpikeWatch | None = None
        self.health_watch: HealthWatch | None = None
        self.report_watch: ReportWatch | None = None
        self.last_spike_check = self.last_health_check = 0.0
        self.dispatcher = Dispatcher(lambda: self.outbox, self._instant_watchlists,
                                     self._log_deliveries, lambda: self.notices,
                                     self._log_notices)

    def _poll_bound(self) -> float:
        fetch = self.loaded.settings.fetch
        return fetch.timeout + fetch.parse_timeout + POLL_SLACK

    # --- loading and reloading ----------------------------------------------------------------

    def _load(self) -> Loaded:
        settings = load_settings(self.config, self.env)
        app = App(settings)
        watchlists = app.watchlists()
        app.opml().sources()  # validate now: a broken OPML must not replace a good one
        return Loaded(settings, watchlists, build_matcher(watchlists), _stamps(settings))

    def reload(self, reason: str) -> None:
        try:
            loaded = self._load()
        except VeilleError as e:
            log.error("reload (%s) refused, keeping the previous configuration: %s", reason, e)
            self.loaded = replace(self.loaded, stamps=_stamps(self.loaded.settings))
            return
        if loaded.settings.database != self.loaded.settings.database:
            log.warning("database path changed in %s: restart veille to use it",
                        loaded.settings.config_file)
            loaded = replace(loaded, settings=replace(loaded.settings,
                                                      database=self.loaded.settings.database))
        if loaded.settings.websub != self.loaded.settings.websub:
            log.warning("[websub] changed: restart veille to apply it")
        if loaded.settings.metrics != self.loaded.settings.metrics:
            log.warning("[metrics] changed in %s: restart veille to apply it",
                        loaded.settings.config_file)
        if loaded.settings.fetch != self.loaded.settings.fetch and self.fetcher is not None:
            old, self.fetcher = self.fetcher, Fetcher(loaded.settings.fetch)
            self._spawn(self._close_when_idle(old, set(self.poller.batches)))
        self.loaded = loaded
        self.app.settings = loaded.settings
        self.parser.timeout = loaded.settings.fetch.parse_timeout
        self.watchdog.stall_after = self._poll_bound()
        feeds = self._apply()
        log.info("reloaded (%s): %d feeds, %d watchlists", reason, len(feeds),
                 len(loaded.watchlists))

    def _apply(self, starting: bool = False) -> list[FeedState]:
        """Make the running parts follow self.loaded: feeds, matcher, channels, jobs.

        New feeds, and at start the feeds that fell due while veille was down, get a first
        poll spread over a minute (or the interval if shorter), not all in the same second.
        """
        now = self.clock()
        spread = min(self.loaded.settings.fetch.interval, 60.0)
        feeds = []
        for feed in self.app.sync_feeds():
            overdue = starting and feed.next_due is not None and feed.next_due <= now
            if (feed.next_due is None or overdue) and not feed.gone:
                feed = replace(feed, next_due=first_poll(now, spread, self.rng))
                self.app.store.update_feed(feed.url, next_due=feed.next_due)
            feeds.append(feed)
        self.outbox = self.app.outbox(self.loaded.watchlists, self.stdout)
        self.notices = NoticeBox(self.app.store, self.outbox.channels, self.clock)
        settings, store = self.loaded.settings, self.app.store
        self.spike_watch = SpikeWatch(store, self.notices, self.clock, settings.timezone,
                                      lag=settings.fetch.interval, language=settings.language)
        self.health_watch = HealthWatch(store, self.notices, settings.health, self.clock,
                                        settings.timezone, settings.language)
        self.report_watch = ReportWatch(store, self.notices, settings, self.clock)
        if self.stories is None or self.stories.config != self.loaded.settings.stories:
            self.stories = self.app.story_index()
        self._schedule_digests()
        self._schedule_report()
        self.poller.tick()
        return feeds

    # --- jobs ---------------------------------------------------------------------------------

    def _add(self, func: Callable[[], Any], trigger: str, job_id: str, **kwargs: Any) -> None:
        assert self.scheduler is not None
        # a one-shot job reschedules itself before it returns: allow that second instance
        instances = 2 if trigger == "date" else 1
        self.scheduler.add_job(self._tracked(func), trigger, id=job_id, replace_existing=True,
                               coalesce=True, max_instances=instances, misfire_grace_time=None,
                               **kwargs)

    def _tracked(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """Jobs register their task so that shutdown can wait for them, then cancel them."""
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                result = func()
                if asyncio.iscoroutine(result):
                    await result
            except asyncio.CancelledError:
                # only shutdown cancels, after the grace period; what was committed stays
                log.warning("%s cancelled at shutdown", run.__name__)
            except Exception:
                log.exception("job %s failed", getattr(func, "__name__", func))
            finally:
                self.tasks.discard(task)
        run.__name__ = getattr(func, "__name__", "job")
        return run

    def _schedule_tick(self, when: datetime) -> None:
        if self.stopping.is_set() or self.scheduler is None:
            return
        self.app.store.set_meta("next_poll", iso(when))
        self._add(self._poll, "date", "poll", run_date=when)

    def _poll(self) -> None:
        self.poller.tick()

    async def _run_batch(self, feeds: list[FeedState],
                         on_done: Callable[[FeedOutcome], None]) -> PassSummary:
        assert self.fetcher is not None
        return await self._feed_pass().run(feeds, on_done)

    def _feed_pass(self) -> FeedPass:
        assert self.fetcher is not None
        per_host = self.loaded.settings.fetch.per_host
        if self.feed_slots is None or self.feed_slots.per_host != per_host:  # or reloaded
            self.feed_slots = feed_slots(per_host)
        return self.app.feed_pass(self.fetcher, self.parser, self.loaded.matcher, self.stories,
                                  self.websub.poll_floor if self.websub else None,
                                  self.feed_slots)

    def _feed_done(self, outcome: FeedOutcome) -> None:
        """Each feed as it finishes: its matches leave now, not when the slowest feed is done."""
        self.watchdog.made_progress()
        self.metrics.observe(outcome)
        for change in self.activity.add(outcome):  # trouble starting or ending, not retries
            log.log(logging.WARNING if change.failing else logging.INFO, "%s", change.line)
        if outcome.new_matches:
            self.dispatcher.wake()

    def _batch_done(self, summary: PassSummary) -> None:
        log.debug("polled %d feeds: %d ok, %d unchanged, %d failed; %d new entries, "
                  "%d new matches", len(summary.outcomes), summary.count(OutcomeStatus.OK),
                  summary.count(OutcomeStatus.UNCHANGED),
                  summary.count(OutcomeStatus.FAILED, OutcomeStatus.GONE),
                  summary.new_entries, summary.new_matches)
        self.app.store.set_meta("last_poll", iso(self.clock()))
        self._status()
        if summary.new_matches:  # a burst is news now, not at the next 5-minute check
            self._soon(self._check_spikes, self.last_spike_check, "spikes-soon")
        if any(o.failing or o.moved_to for o in summary.outcomes):
            self._soon(self._check_health, self.last_health_check, "health-soon",
                       HEALTH_SOON)

    def _soon(self, check: Callable[[], None], last: float, job_id: str,
              gap: float = SOON) -> None:
        """Run `check` now, or `gap` seconds after its last run if that was too recent."""
        wait = last + gap - time.monotonic()
        if wait <= 0:
            check()
        else:
            self._add(check, "date", job_id, run_date=self.clock() + timedelta(seconds=wait))

    def _check_health(self) -> None:
        self.last_health_check = time.monotonic()
        if self.health_watch is None:
            return
        for notice in self.health_watch.check():
            log.warning("feed health: %s", notice.subject)
        self.dispatcher.wake()

    def _health_summary(self) -> None:
        if self.health_watch is not None and self.health_watch.weekly_summary():
            self.dispatcher.wake()

    def _check_spikes(self) -> None:
        self.last_spike_check = time.monotonic()
        if self.spike_watch is None:
            return
        for notice in self.spike_watch.check(self.loaded.watchlists):
            log.warning("spike: %s", notice.subject)
            self.dispatcher.wake()

    def _check_files(self) -> None:
        self.last_beat = time.monotonic()
        if self.reload_requested:
            self.reload_requested = False
            self.reload("SIGHUP")
        elif _stamps(self.loaded.settings) != self.loaded.stamps:
            self.reload("file changed")

    # --- life cycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.lock.acquire()
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stopping.set)
            loop.add_signal_handler(signal.SIGHUP, self._request_reload)
            self.fetcher = Fetcher(self.loaded.settings.fetch)
            self.scheduler = AsyncIOScheduler(event_loop=loop)
            self.scheduler.start()
            self._apply(starting=True)
            self._start_metrics()
            store = self.app.store
            store.set_meta("daemon_pid", str(os.getpid()))
            store.set_meta("daemon_started", iso(self.clock()))
            self._add(self._check_files, "interval", "reload", seconds=RELOAD_CHECK)
            self._add(self._retry, "interval", "retry", seconds=RETRY_EVERY)
            self._add(self._summary, "interval", "summary", seconds=SUMMARY_EVERY)
            self._add(self._index_search, "interval", "index", seconds=INDEX_EVERY)
            self._add(self._check_spikes, "interval", "spikes", seconds=CHECK_EVERY)
            self._add(self._check_health, "interval", "health", seconds=CHECK_EVERY)
            self._add(self._health_summary, "cron", "health-summary", day_of_week="mon",
                      hour=9, timezone=self.loaded.settings.tz)
            self._check_health()  # the first ever only records the states it finds
            self.last_health_check = 0.0
            self._add(self._housekeeping, "interval", "housekeeping",
                      seconds=HOUSEKEEPING_EVERY, next_run_time=self.clock() + timedelta(
                          seconds=60))
            interval = watchdog_interval(self.env)
            if interval:
                self._add(self.watchdog.made_progress, "interval", "heartbeat",
                          seconds=interval / 2)
                self._spawn(self._ping_watchdog(interval))
            await self._start_websub()
            self.dispatcher.wake()  # what a previous run left pending, if its backoff is over
            self.notifier.send("READY=1")
            feeds = store.feeds()
            self.activity.known_failing(f.url for f in feeds if f.failures or f.gone)
            self._status(feeds)
            log.info("veille running: %d feeds, %d watchlists, database %s",
                     len(feeds), len(self.loaded.watchlists),
                     self.loaded.settings.database)
            await self.stopping.wait()
            await self._shutdown()
        finally:
            if self.metrics_server is not None:
                self.metrics_server.stop()
            self.parser.close()
            self.app.close()
            self.lock.release()
            self.notifier.close()
        return 0

    async def _start_websub(self) -> None:
        settings = self.loaded.settings
        if settings.websub.enabled:
            self.websub = WebSubAgent(settings.websub, self.app.store, self.clock,
                                      self._feed_pass, self._feed_done,
                                      settings.fetch.user_agent, settings.fetch.timeout,
                                      settings.fetch.allow_private)
            await self.websub.start()
            self._add(self.websub.reconcile, "interval", "websub", seconds=WEBSUB_EVERY,
                      next_run_time=self.clock())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _close_when_idle(self, fetcher: Fetcher, batches: set[asyncio.Task[None]]
                               ) -> None:
        """Batches started before a reload may still use the old fetcher: close it after."""
        if batches:
            await asyncio.wait(batches)
        await fetcher.aclose()

    def _request_reload(self) -> None:
        self.reload_requested = True

    async def _shutdown(self) -> None:
        log.info("stopping")
        self.notifier.send("STOPPING=1")
        self.poller.stopped = True
        if self.scheduler is not None:
            self.scheduler.pause()  # no new jobs; shutdown() would cancel running ones at once
        closing = asyncio.ensure_future(self.dispatcher.close(STOP_GRACE))
        await settle(self.tasks | self.poller.batches, STOP_GRACE)
        await closing
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self.fetcher is not None:
            await self.fetcher.aclose()
        if self.websub is not None:
            await self.websub.close()
        self.app.store.set_meta("daemon_stopped", iso(self.clock()))
        self._summary()
        log.info("stopped")
