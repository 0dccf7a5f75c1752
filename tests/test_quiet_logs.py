"""Logs people can read: a feed's trouble logged when it starts and when it ends, a summary a
minute at most and only when something happened; counted on the daemon as a subprocess."""

from __future__ import annotations

import time

import pytest

from veille.activity import Activity
from veille.models import FeedOutcome

from .conftest import FeedServer, Workspace, rss
from .test_daemon import item, start

FEED = "https://f.example/rss"


def ok(url: str = FEED, new: int = 0) -> FeedOutcome:
    return FeedOutcome(url, "ok", new_entries=new)


def failed(url: str = FEED) -> FeedOutcome:
    return FeedOutcome(url, "failed", message="HTTP 503")


@pytest.mark.parametrize(("outcomes", "lines"), [
    ([ok(), ok()], []),
    ([failed()], [(True, f"feed {FEED} failed: HTTP 503 (logged again when it recovers)")]),
    ([failed(), failed(), failed()], [(True, f"feed {FEED} failed: HTTP 503 (logged again "
                                             "when it recovers)")]),
    ([failed(), failed(), ok()], [(True, f"feed {FEED} failed: HTTP 503 (logged again when "
                                         "it recovers)"), (False, f"feed {FEED} recovered")]),
    ([FeedOutcome(FEED, "unchanged", moved_to="https://new")] * 3,
     [(True, f"feed {FEED} moved permanently to https://new (run: veille feeds move {FEED} "
             "https://new)")]),
    ([FeedOutcome(FEED, "deferred"), FeedOutcome(FEED, "gone", message="410")],
     [(True, f"feed {FEED} gone: 410 (logged again when it recovers)")]),
])
def test_a_feed_is_logged_when_its_state_changes_not_at_every_poll(outcomes, lines):
    activity = Activity()
    assert [tuple(c) for o in outcomes for c in activity.add(o)] == lines


def test_a_feed_failing_before_a_restart_is_not_news_again():
    activity = Activity()
    activity.known_failing([FEED])
    assert activity.add(failed()) == []
    assert [c.line for c in activity.add(ok())] == [f"feed {FEED} recovered"]


def test_the_summary_says_what_happened_and_nothing_when_nothing_did():
    activity = Activity()
    for _ in range(3):
        activity.add(ok())
    assert activity.flush() is None  # healthy feeds with nothing new: no line
    activity.add(ok(new=3))
    activity.add(failed("https://b"))
    assert activity.flush() == ("2 feeds polled in the last minute: 3 new entries, "
                                "0 new matches, 1 failing")
    activity.add(failed("https://b"))  # still failing: counted, not news
    activity.add(ok())
    assert activity.flush() is None


HEALTHY = 150
FAILING = 3


def test_daemon_steady_state_writes_few_lines(feed_server: FeedServer, workspace: Workspace):
    """150 healthy feeds and 3 failing ones polled every 20 s (backoff capped at 20 s too):
    each failing feed is logged once however often it fails, once when it recovers, and the
    whole log stays far under 60 lines a minute (bench/bench_logs.py measures 1,000 feeds)."""
    urls = [feed_server.serve(f"/ok{i}.xml", rss([item(i, f"Article {i}")]))
            for i in range(HEALTHY)]
    bad = [feed_server.url(f"/bad{i}.xml") for i in range(FAILING)]  # 404
    workspace.config.write_text(
        'database = "var/veille.db"\nfeeds = "feeds.opml"\nwatchlists = "watchlists.toml"\n'
        '[fetch]\ninterval = "20s"\nmax_interval = "20s"\ntimeout = "5s"\n')
    workspace.write_feeds(urls + bad)
    workspace.write_watchlists("")
    daemon = start(workspace, None)
    try:
        daemon.wait_for_line("veille running")
        started = time.monotonic()
        for i in range(FAILING):  # each failing feed failed three times
            feed_server.wait_for(f"/bad{i}.xml", count=3, timeout=120)
        feed_server.wait_for("/ok0.xml", count=3, timeout=120)
        feed_server.serve("/bad0.xml", rss([item(999, "De retour")]))
        daemon.wait_for_line("bad0.xml recovered", timeout=60)
        minutes = (time.monotonic() - started) / 60
        lines = [line for line in daemon.log.splitlines()
                 if " DEBUG " not in line and "veille running" not in line]
    finally:
        daemon.stop()
    for i in range(FAILING):
        assert sum(f"/bad{i}.xml failed" in line for line in lines) == 1, lines
    assert sum("recovered" in line for line in lines) == 1, lines
    # the summary of the first polls, the 3 failures, 1 recovery, and a summary per minute
    # that saw a change at most
    assert len(lines) <= FAILING + 2 + 2 * (minutes + 1), lines
    assert len(lines) / max(minutes, 1) < 60
