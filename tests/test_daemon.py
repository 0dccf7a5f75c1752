"""`veille run` as a real subprocess: sd_notify, polling on time, instant alerts to a real
webhook receiver, live reload (good and broken edits), the lock, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import FeedServer, Workspace, pubdate, rss

WATCH = """
[[watchlist]]
name = "nestle"
query = "nestlé"
schedule = "instant"
channels = ["hook"]
"""
NEW_WATCH = """
[[watchlist]]
name = "pirates"
query = '"parti pirate"'
schedule = "instant"
channels = ["hook"]
"""


class Process:
    """The daemon, its stderr collected line by line so tests can wait for an event."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.out: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out),
                         daemon=True).start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            with self.changed:
                into.append(line)
                self.changed.notify_all()

    def wait_for_output(self, text: str, timeout: float = 20) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: any(text in line for line in self.out), timeout)
        assert ok, f"{text!r} never printed:\n{''.join(self.out)}\n{''.join(self.lines)}"

    def wait_for_line(self, text: str, timeout: float = 20) -> str:
        with self.changed:
            ok = self.changed.wait_for(lambda: any(text in line for line in self.lines), timeout)
        assert ok, f"{text!r} never logged:\n{''.join(self.lines)}"
        return next(line for line in self.lines if text in line)


class NotifySocket:
    """What systemd would read: every datagram, as it comes (a unix datagram queue holds only
    a few, so the daemon's messages would be dropped if nobody read them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.seen: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            fields = self.sock.recv(4096).decode().split("\n")
            with self.changed:
                self.seen += fields
                self.changed.notify_all()

    def wait_for(self, field: str, timeout: float = 20) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: field in self.seen, timeout), self.seen


def start(ws: Workspace, notify: Path | None, env_extra: dict[str, str] | None = None
          ) -> Process:
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
    env.update({"PYTHONUNBUFFERED": "1", **(env_extra or {})})
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify)
    return Process([sys.executable, "-m", "veille", "--config", str(ws.config), "run",
                    "--log-level", "debug"], env)


def item(i: int, title: str) -> dict[str, str]:
    return {"title": title, "link": f"https://ex.fr/{i}", "guid": f"d{i}",
            "pubDate": pubdate(datetime.now(UTC))}


@pytest.fixture
def daemon_workspace(feed_server: FeedServer, workspace: Workspace) -> Workspace:
    workspace.config.write_text(
        f'database = "var/veille.db"\n[fetch]\ninterval = "1s"\ntimeout = "5s"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n')
    feed_server.routes["/hook"] = (204, {}, b"")
    workspace.write_watchlists(WATCH)
    workspace.write_feeds([feed_server.serve("/f.xml", rss([item(1, "Rien à signaler")]))])
    return workspace


def test_daemon_end_to_end(daemon_workspace: Workspace, feed_server: FeedServer, tmp_path):
    ws = daemon_workspace
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = start(ws, notify.path, {"WATCHDOG_USEC": "1000000"})
    try:
        notify.wait_for("READY=1")
        notify.wait_for("STATUS=1 feeds, 0 failing")
        notify.wait_for("WATCHDOG=1")  # at half of WatchdogSec, after a database check
        # polls on time: every second (±10 % jitter), neither faster nor much slower
        polls = feed_server.wait_for("/f.xml", count=4)
        gaps = [b.at - a.at for a, b in zip(polls[1:], polls[2:], strict=False)]
        assert all(0.85 <= gap <= 5 for gap in gaps), (gaps, "".join(daemon.lines))

        # CLI commands work while the daemon runs, without "database is locked"
        report = json.loads(ws.run("status", "--format", "json").stdout)
        assert report["daemon"]["running"] and report["feeds"]["total"] == 1
        assert json.loads(ws.run("entries", "--format", "json").stdout)[0]["title"] == \
            "Rien à signaler"
        ws.run("digest", "--format", "json")
        assert "1 matches" in ws.run("watch", "test", "signaler").stdout

        # a second daemon on the same database is refused
        second = subprocess.run([sys.executable, "-m", "veille", "--config", str(ws.config),
                                 "run"], capture_output=True, text=True, timeout=30)
        assert second.returncode == 1 and "another veille daemon" in second.stderr

        # a new matching entry reaches the webhook right after the poll that found it
        feed_server.serve("/f.xml", rss([item(1, "Rien à signaler"),
                                         item(2, "Nestlé ferme une usine")]))
        hooks = feed_server.wait_for("/hook")
        assert hooks, "".join(daemon.lines)
        [hook] = hooks
        payload = json.loads(hook.body)
        assert payload["watchlist"] == "nestle"
        assert [m["title"] for m in payload["matches"]] == ["Nestlé ferme une usine"]

        # a watchlist added to the file takes effect without restart
        (ws.root / "watchlists.toml").write_text(WATCH + NEW_WATCH, encoding="utf-8")
        daemon.wait_for_line("reloaded (file changed)")
        feed_server.serve("/f.xml", rss([item(3, "Le Parti pirate présente ses listes")]))
        hooks = feed_server.wait_for("/hook", count=2)
        assert json.loads(hooks[1].body)["watchlist"] == "pirates"

        # a feed added to feeds.opml is polled soon, without restart
        new_feed = feed_server.serve("/new.xml", rss([item(9, "Nouveau fil")]))
        ws.write_feeds([feed_server.url("/f.xml"), new_feed])
        feed_server.wait_for("/new.xml")

        # a broken edit is refused, and the last good version stays in force
        (ws.root / "watchlists.toml").write_text('[[watchlist]]\nname = "x"\nquery = "(a"\n')
        line = daemon.wait_for_line("refused")
        assert "watchlists.toml: x: query column 1: unbalanced parenthesis" in line
        feed_server.serve("/f.xml", rss([item(4, "Nestlé rachète une marque")]))
        hooks = feed_server.wait_for("/hook", count=3)
        assert json.loads(hooks[2].body)["matches"][0]["title"] == "Nestlé rachète une marque"
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        code = daemon.proc.wait(timeout=10)
    assert code == 0
    notify.wait_for("STOPPING=1")
    assert "Traceback" not in "".join(daemon.lines), "".join(daemon.lines)


def test_daemon_without_systemd_and_sighup(daemon_workspace: Workspace, feed_server):
    daemon = start(daemon_workspace, None, {"JOURNAL_STREAM": "8:1234"})
    try:
        daemon.wait_for_line("veille running")
        assert daemon.lines[0].startswith("<6>veille running")  # journald priority, no time
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_line("reloaded (SIGHUP)")
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=10) == 0


def test_daemon_refuses_to_start_on_bad_config(daemon_workspace: Workspace):
    daemon_workspace.config.write_text("[fetch]\ninterval = 'soon'\n")
    daemon = start(daemon_workspace, None)
    assert daemon.proc.wait(timeout=30) == 1
    daemon.wait_for_line("veille: veille.toml: fetch.interval: expected a duration")


def test_json_logs_for_log_shippers(capsys):
    import logging

    from veille.logs import setup_logging

    setup_logging("info", "json", {})
    logging.getLogger("veille").warning("feed %s failed", "https://x")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["level"] == "warning" and line["message"] == "feed https://x failed"
    assert line["logger"] == "veille" and "time" in line
    logging.getLogger().handlers.clear()


def test_missed_digest_runs_once_at_start(feed_server: FeedServer, workspace: Workspace):
    """The daemon was down over a daily slot: the digest goes out once, at start."""
    import sqlite3
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from veille.cron import parse_schedule

    workspace.config.write_text('database = "var/veille.db"\ntimezone = "Europe/Paris"\n'
                                '[fetch]\ninterval = "1h"\n')
    workspace.write_watchlists('[[watchlist]]\nname = "matin"\nquery = "nestlé"\n'
                               'schedule = "daily 08:00"\n')
    workspace.write_feeds([feed_server.serve("/f.xml", rss([item(1, "Nestlé au tribunal")]))])
    workspace.run("fetch")
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(workspace.root / "var" / "veille.db") as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('digest_last:matin', ?)",
                   [three_days_ago])
    daemon = start(workspace, None)
    try:
        daemon.wait_for_output("[veille] matin — 1 nouvelle mention")
        daemon.wait_for_line("delivered 1 matches of matin to console")
        report = json.loads(workspace.run("status", "--format", "json").stdout)
        [matin] = report["watchlists"]
        # the next one is the next 08:00 in Paris, not another catch-up
        expected = parse_schedule("daily 08:00").next_after(datetime.now(UTC),
                                                            ZoneInfo("Europe/Paris"))
        assert datetime.fromisoformat(matin["next_digest"]) == expected
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=10) == 0
    assert sum("[veille] matin" in line for line in daemon.out) == 1
