"""`veille run` as a real subprocess: sd_notify, polling on time, instant alerts to a real
webhook receiver, live reload (good and broken edits), the lock, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import FeedServer, Workspace, pubdate, rss
from .notify_socket import NotifySocket

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


#: How long a test waits for an event before it fails: generous, the machine may be loaded.
WAIT = 30.0
#: SIGTERM to exit: the daemon gives in-flight work STOP_GRACE (5 s), then stops.
STOP_WITHIN = 10.0


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

    @property
    def log(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = WAIT) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: any(text in line for line in self.out), timeout)
            out, err = "".join(self.out), "".join(self.lines)
        assert ok, f"{text!r} not printed within {timeout:g}s; stdout:\n{out}\nstderr:\n{err}"

    def wait_for_line(self, text: str, timeout: float = WAIT) -> str:
        with self.changed:
            ok = self.changed.wait_for(lambda: any(text in line for line in self.lines), timeout)
            lines = list(self.lines)
        assert ok, f"{text!r} not logged within {timeout:g}s; the log:\n{''.join(lines)}"
        return next(line for line in lines if text in line)

    def stop(self) -> None:
        """SIGTERM: the daemon must exit 0, soon, without a traceback in its log."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still running {STOP_WITHIN:g}s after SIGTERM:\n{self.log}"
                                 ) from None
        assert code == 0, f"exit code {code}:\n{self.log}"
        assert "Traceback" not in self.log, self.log


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


@dataclass
class Running:
    ws: Workspace
    server: FeedServer
    daemon: Process
    notify: NotifySocket


@pytest.fixture
def running(daemon_workspace: Workspace, feed_server: FeedServer, tmp_path: Path
            ) -> Iterator[Running]:
    """`veille run` under a fake systemd (NOTIFY_SOCKET, WatchdogSec=1s), polling /f.xml
    every second; its first poll is stored. Stopped by SIGTERM: exit 0, STOPPING=1, and no
    traceback in its log."""
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = start(daemon_workspace, notify.path, {"WATCHDOG_USEC": "1000000"})
    try:
        daemon.wait_for_line("polled 1 feeds")
        yield Running(daemon_workspace, feed_server, daemon, notify)
    finally:
        daemon.stop()
    notify.wait_for("STOPPING=1")


def test_daemon_notifies_systemd_and_polls_on_time(running: Running):
    running.notify.wait_for("READY=1")
    running.notify.wait_for("STATUS=1 feeds, 0 failing")
    running.notify.wait_for("WATCHDOG=1")  # at half of WatchdogSec, after a database check
    # polls on time: every second (±10 % jitter), neither faster nor much slower
    polls = running.server.wait_for("/f.xml", count=4)
    gaps = [b.at - a.at for a, b in zip(polls[1:], polls[2:], strict=False)]
    assert all(0.85 <= gap <= 5 for gap in gaps), (gaps, running.daemon.log)


def test_cli_works_beside_the_daemon_and_a_second_daemon_is_refused(running: Running):
    ws = running.ws
    # CLI commands work while the daemon runs, without "database is locked"
    report = json.loads(ws.run("status", "--format", "json").stdout)
    assert report["daemon"]["running"] and report["feeds"]["total"] == 1
    assert json.loads(ws.run("entries", "--format", "json").stdout)[0]["title"] == \
        "Rien à signaler"
    ws.run("digest", "--format", "json")
    assert "1 matches" in ws.run("watch", "test", "signaler").stdout

    # a second daemon on the same database is refused
    second = subprocess.run([sys.executable, "-m", "veille", "--config", str(ws.config),
                             "run"], capture_output=True, text=True, timeout=WAIT)
    assert second.returncode == 1 and "another veille daemon" in second.stderr, second.stderr


def test_new_matching_entry_reaches_the_webhook(running: Running):
    """Right after the poll that found it, not at a digest time."""
    server = running.server
    server.serve("/f.xml", rss([item(1, "Rien à signaler"), item(2, "Nestlé ferme une usine")]))
    [hook] = server.wait_for("/hook")
    payload = json.loads(hook.body)
    assert payload["watchlist"] == "nestle"
    assert [m["title"] for m in payload["matches"]] == ["Nestlé ferme une usine"]


def test_watchlist_added_to_the_file_takes_effect_without_restart(running: Running):
    (running.ws.root / "watchlists.toml").write_text(WATCH + NEW_WATCH, encoding="utf-8")
    running.daemon.wait_for_line("reloaded (file changed)")
    running.server.serve("/f.xml", rss([item(3, "Le Parti pirate présente ses listes")]))
    [hook] = running.server.wait_for("/hook")
    payload = json.loads(hook.body)
    assert payload["watchlist"] == "pirates"
    assert [m["title"] for m in payload["matches"]] == ["Le Parti pirate présente ses listes"]


def test_feed_added_to_the_opml_is_polled_soon(running: Running):
    server = running.server
    new_feed = server.serve("/new.xml", rss([item(9, "Nouveau fil")]))
    running.ws.write_feeds([server.url("/f.xml"), new_feed])
    server.wait_for("/new.xml", timeout=20)  # no restart; "soon": a first poll within 20 s


def test_broken_edit_is_refused_and_the_last_good_version_stays(running: Running):
    ws, server, daemon = running.ws, running.server, running.daemon
    # a good edit first, so that "the last good version" is not simply the one at start
    (ws.root / "watchlists.toml").write_text(WATCH + NEW_WATCH, encoding="utf-8")
    daemon.wait_for_line("reloaded (file changed)")
    (ws.root / "watchlists.toml").write_text('[[watchlist]]\nname = "x"\nquery = "(a"\n')
    line = daemon.wait_for_line("reload (file changed) refused")
    assert "watchlists.toml: x: query column 1: unbalanced parenthesis" in line
    server.serve("/f.xml", rss([item(4, "Nestlé rachète une marque"),
                                item(5, "Le Parti pirate se présente")]))
    hooks = server.wait_for("/hook", count=2)
    matched = {json.loads(h.body)["watchlist"]: [m["title"] for m in json.loads(h.body)
                                                ["matches"]] for h in hooks}
    assert matched == {"nestle": ["Nestlé rachète une marque"],
                       "pirates": ["Le Parti pirate se présente"]}, daemon.log


def test_daemon_without_systemd_and_sighup(daemon_workspace: Workspace, feed_server):
    daemon = start(daemon_workspace, None, {"JOURNAL_STREAM": "8:1234"})
    try:
        daemon.wait_for_line("veille running")
        assert daemon.lines[0].startswith("<6>veille running")  # journald priority, no time
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_line("reloaded (SIGHUP)")
    finally:
        daemon.stop()


def test_daemon_refuses_to_start_on_bad_config(daemon_workspace: Workspace):
    daemon_workspace.config.write_text("[fetch]\ninterval = 'soon'\n")
    daemon = start(daemon_workspace, None)
    assert daemon.proc.wait(timeout=WAIT) == 1
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
        daemon.wait_for_output("[veille] matin — 1 sujet, 1 mention")
        daemon.wait_for_line("delivered 1 matches of matin to console")
        report = json.loads(workspace.run("status", "--format", "json").stdout)
        [matin] = report["watchlists"]
        # the next one is the next 08:00 in Paris, not another catch-up
        expected = parse_schedule("daily 08:00").next_after(datetime.now(UTC),
                                                            ZoneInfo("Europe/Paris"))
        assert datetime.fromisoformat(matin["next_digest"]) == expected
    finally:
        daemon.stop()
    assert sum("[veille] matin" in line for line in daemon.out) == 1
