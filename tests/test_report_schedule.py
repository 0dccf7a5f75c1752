"""The report on a schedule: the decision (pure, with a passed clock), the queue it goes
through (a real SMTP server), and the daemon sending a missed slot once at start."""

from __future__ import annotations

import asyncio
import email
import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from veille.app import App
from veille.config import ReportSettings, load_settings
from veille.errors import ConfigError
from veille.notices import NoticeBox
from veille.report_watch import LAST, ReportWatch, next_report

from .conftest import FeedServer, MailSink, Workspace, pubdate, rss
from .test_daemon import start

PARIS = ZoneInfo("Europe/Paris")
WEEKLY = ReportSettings(schedule="weekly mon 08:00")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


@pytest.mark.parametrize(("last", "now", "expected"), [
    # never sent: the next Monday 08:00 in Paris (26/11/2026 is a Thursday)
    (None, paris(2026, 11, 26, 10, 0), paris(2026, 11, 30, 8, 0)),
    # sent this Monday: next Monday
    (paris(2026, 11, 23, 8, 0), paris(2026, 11, 26, 10, 0), paris(2026, 11, 30, 8, 0)),
    # down over Monday's slot: now, once
    (paris(2026, 11, 16, 8, 0), paris(2026, 11, 26, 10, 0), paris(2026, 11, 26, 10, 0)),
    # down over three slots: still once
    (paris(2026, 10, 1, 8, 0), paris(2026, 11, 26, 10, 0), paris(2026, 11, 26, 10, 0)),
    # on the minute before: that slot; DST change (29/03/2026): still 08:00 local
    (None, paris(2026, 11, 30, 7, 59), paris(2026, 11, 30, 8, 0)),
    (None, paris(2026, 3, 28, 12, 0), paris(2026, 3, 30, 8, 0)),
])
def test_next_report_is_decided_from_the_last_run_and_now(last, now, expected):
    assert next_report(WEEKLY, last, now, PARIS) == expected


def test_no_schedule_no_report():
    assert next_report(ReportSettings(), None, paris(2026, 11, 26, 10, 0), PARIS) is None


@pytest.mark.parametrize(("text", "message"), [
    ('[report]\nschedule = "instant"', 'report.schedule: a report cannot be "instant"'),
    ('[report]\nschedule = "someday"', "report.schedule: 'someday': expected"),
    ('[report]\nsince = "a week"', "report.since: expected a duration"),
    ('[report]\nchannels = ["nope"]', "report.channels: no channel named 'nope'"),
    ('[report]\nshedule = "daily 08:00"', 'report.shedule: unknown key (did you mean '
     '"schedule"?)'),
    ('language = "de"', "language: expected one of fr, en, got 'de'"),
])
def test_report_and_language_settings_are_checked(tmp_path: Path, text: str, message: str):
    config = tmp_path / "veille.toml"
    config.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(config, env={})
    assert message in str(e.value)


def test_report_settings_defaults_and_values(tmp_path: Path):
    config = tmp_path / "veille.toml"
    config.write_text('language = "en"\n[report]\nschedule = "daily 07:30"\nsince = "1d"\n'
                      'watchlists = ["a"]\n', encoding="utf-8")
    settings = load_settings(config, env={})
    assert settings.language == "en"
    assert settings.report == ReportSettings("daily 07:30", 86400.0, (), ("a",))
    assert settings.report.targets == ("console",)
    config.write_text("", encoding="utf-8")
    assert load_settings(config, env={}).language == "fr"


WATCH = '[[watchlist]]\nname = "nestle"\nquery = "nestlé"\nschedule = "daily 08:00"\n'


def _feed(server: FeedServer) -> str:
    return server.serve("/f.xml", rss([
        {"title": "Nestlé au tribunal", "link": "https://ex.fr/1", "guid": "1",
         "pubDate": pubdate(datetime.now(UTC) - timedelta(hours=3))}], title="Le Fil"))


def test_a_scheduled_report_is_queued_then_mailed_with_its_charts(
        feed_server: FeedServer, smtp_server: MailSink, workspace: Workspace):
    workspace.write_config(
        f'[channels.equipe]\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp_server.port}\n'
        'security = "none"\nfrom = "veille@example.org"\nto = ["com@example.org"]\n'
        '[report]\nschedule = "weekly mon 08:00"\nsince = "7d"\nchannels = ["equipe"]\n')
    workspace.write_watchlists(WATCH)
    workspace.write_feeds([_feed(feed_server)])
    workspace.run("fetch")
    app = App(load_settings(workspace.config, env={}))
    try:
        now = datetime.now(UTC)
        app.clock = lambda: now
        box = NoticeBox(app.store, app.channels(sys.stdout), app.clock)
        watch = ReportWatch(app.store, box, app.settings, app.clock)
        planned = watch.plan()
        assert planned == next_report(app.settings.report, now, now, app.settings.tz)
        notice = watch.send(app.watchlists())
        assert app.store.get_meta(LAST) is not None
        [outcome] = asyncio.run(box.send_due("equipe"))  # read back from the queue
        assert outcome.ok and outcome.kind == "report"
        assert asyncio.run(box.send_due("equipe")) == []  # sent once
    finally:
        app.close()
    [envelope] = smtp_server.messages
    msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert msg["Message-ID"] == f"<veille.report.{notice.id}@example.org>"
    status = json.loads(workspace.run("status", "--format", "json", code=None).stdout)
    assert status["report"]["schedule"] == "weekly mon 08:00"
    assert datetime.fromisoformat(status["report"]["next"]) == planned
    assert "report: weekly mon 08:00, last " in workspace.run("status", code=None).stdout
    text, related = msg.get_payload()
    assert "== nestle — 1 sujet, 1 mention (100,0\u202f%) ==" in text.get_content()
    html, image = related.get_payload()  # one watchlist: one chart, mentions per day
    assert image.get_content_type() == "image/png"
    assert f'cid:{image["Content-ID"].strip("<>")}' in html.get_content()


def test_the_daemon_sends_a_missed_report_once_at_start(feed_server: FeedServer,
                                                          workspace: Workspace):
    feed_server.routes["/hook"] = (204, {}, b"")
    workspace.config.write_text(
        'database = "var/veille.db"\ntimezone = "Europe/Paris"\nlanguage = "en"\n'
        '[fetch]\ninterval = "1h"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n'
        '[report]\nschedule = "weekly mon 08:00"\nsince = "7d"\nchannels = ["hook"]\n')
    workspace.write_watchlists(WATCH)
    workspace.write_feeds([_feed(feed_server)])
    workspace.run("fetch")
    long_ago = (datetime.now(UTC) - timedelta(days=15)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(workspace.root / "var" / "veille.db") as db:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [LAST, long_ago])
    daemon = start(workspace, None)
    try:
        [request] = feed_server.wait_for("/hook", 1, timeout=60)
        daemon.wait_for_line("sent report alert")
    finally:
        daemon.stop()
    body = json.loads(request.body)
    assert body["kind"] == "report" and body["language"] == "en"
    [nestle] = body["watchlists"]
    assert (nestle["name"], nestle["stories"], nestle["mentions"]) == ("nestle", 1, 1)
    assert len(feed_server.requests("/hook")) == 1
