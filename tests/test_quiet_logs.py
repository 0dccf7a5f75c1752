"""Logs people can read: a feed's trouble logged when it starts and when it ends, a summary a
minute at most and only when something happened; counted on the daemon as a subprocess."""

from __future__ import annotations

import asyncio

import pytest

from veille.activity import Activity
from veille.app import App
from veille.config import load_settings
from veille.models import FeedOutcome
from veille.watchlists import build_matcher, load_watchlists

from .conftest import FeedServer, Workspace, rss
from .test_daemon import item

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


def test_the_summary_names_the_watchlists_that_alerted():
    activity = Activity()
    activity.add(FeedOutcome(FEED, "ok", new_entries=2, new_matches=3,
                             matched=("danone", "nestle", "danone")))
    activity.add(FeedOutcome("https://b", "ok", new_entries=9, new_matches=9))  # archives: silent
    assert activity.flush() == ("2 feeds polled in the last minute: 11 new entries, 12 new "
                                "matches (danone ×2, nestle), 0 failing")
    activity.add(FeedOutcome(FEED, "ok", new_entries=7, new_matches=7,
                             matched=tuple(f"w{i}" for i in range(7))))
    assert activity.flush().endswith("7 new matches (w0, w1, w2, w3, w4 and 2 more), 0 failing")


def test_a_poll_tells_which_watchlists_its_new_matches_alert(feed_server: FeedServer,
                                                            workspace: Workspace):
    """The outcome names each new alerting match's watchlist; a match already recorded does
    not count again when the feed is polled once more."""
    feed_server.serve("/f.xml", rss([item(1, "Nestlé rappelle des pizzas")]))
    workspace.write_feeds([feed_server.url("/f.xml")])
    workspace.write_watchlists('[[watchlist]]\nname = "nestle"\nquery = "nestlé"\nschedule = "instant"\n')
    workspace.run("fetch")  # entry 1 and its match recorded
    feed_server.serve("/f.xml", rss([item(1, "Nestlé rappelle des pizzas"),
                                     item(2, "Nestlé encore")]))
    settings = load_settings(workspace.config)
    app = App(settings)
    try:
        matcher = build_matcher(load_watchlists(settings.watchlists))
        summary = asyncio.run(app.fetch(app.store.feeds(), matcher))
    finally:
        app.close()
    assert [o.matched for o in summary.outcomes] == [("nestle",)]  # entry 2 only
