"""[metrics]: /metrics scraped from the daemon as a real subprocess and parsed as Prometheus
reads it, /healthz, and the reasons it answers 503."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from veille.config import settings_from_toml
from veille.errors import ConfigError
from veille.metrics import Metrics, MetricsServer, daemon_health
from veille.models import FeedOutcome
from veille.store import Store

from .conftest import FeedServer, Workspace, rss
from .test_daemon import WAIT, WATCH, item, start


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, parsed by prometheus_client's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_until(predicate, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not seen within {timeout:g}s"
        time.sleep(0.2)  # polling an HTTP endpoint: there is no event to wait on


def test_daemon_serves_metrics_and_health(feed_server: FeedServer, workspace: Workspace):
    workspace.config.write_text(
        'database = "var/veille.db"\n[fetch]\ninterval = "1s"\ntimeout = "5s"\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n')
    feed_server.routes["/hook"] = (204, {}, b"")
    workspace.write_watchlists(WATCH)
    workspace.write_feeds([
        feed_server.serve("/f.xml", rss([item(1, "Rien à signaler")])),
        feed_server.url("/missing.xml"),  # 404: a failing feed
    ])
    daemon = start(workspace, None)
    try:
        line = daemon.wait_for_line("metrics on ")
        base = re.search(r"metrics on (http://\S+)/metrics", line).group(1)
        def first_poll_stored():
            found = samples(get(f"{base}/metrics")[2])
            return found.get(("veille_new_entries_total", ())) == 1

        wait_until(first_poll_stored, "the first poll of /f.xml stored")
        feed_server.serve("/f.xml", rss([item(1, "Rien à signaler"),
                                         item(2, "Nestlé ferme une usine")]))
        feed_server.wait_for("/hook")

        def scraped():
            status, content_type, body = get(f"{base}/metrics")
            assert status == 200 and content_type.startswith("text/plain")
            found = samples(body)
            delivered = found.get(("veille_deliveries_total",
                                   (("channel", "hook"), ("result", "ok")))) or 0
            return found if delivered >= 1 else None

        found = wait_until(scraped, "a delivery counted in /metrics")
        assert found[("veille_feeds", (("state", "ok"),))] == 1
        assert found[("veille_feeds", (("state", "failing"),))] == 1
        assert found[("veille_polls_total", (("outcome", "ok"),))] >= 2
        assert found[("veille_polls_total", (("outcome", "failed"),))] >= 1
        assert found[("veille_new_entries_total", ())] == 2
        assert found[("veille_matches_total", (("watchlist", "nestle"),))] == 1
        assert found[("veille_fetch_duration_seconds_count", ())] >= 3
        assert found[("veille_fetch_duration_seconds_bucket", (("le", "+Inf"),))] >= 3
        assert found[("veille_deliveries_pending", (("channel", "hook"),))] == 0
        assert found[("veille_deliveries_failed", (("channel", "hook"),))] == 0
        assert found[("veille_alerts_sent_total", (("kind", "spike"),))] == 0
        last = found[("veille_last_successful_poll_timestamp_seconds", ())]
        assert abs(last - time.time()) < 120

        assert get(f"{base}/healthz")[::2] == (200, "ok\n")
        assert get(f"{base}/other")[0] == 404
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.log


def test_metrics_are_off_by_default(tmp_path: Path):
    settings = settings_from_toml({}, tmp_path / "veille.toml")
    assert settings.metrics.listen is None
    on = settings_from_toml({"metrics": {"listen": "[::1]:9357"}}, tmp_path / "veille.toml")
    assert on.metrics.listen == ("::1", 9357)


@pytest.mark.parametrize("value", ["9357", "127.0.0.1", "127.0.0.1:http", ":9357",
                                   "127.0.0.1:70000", 9357])
def test_a_bad_listen_address_names_the_key(tmp_path: Path, value):
    with pytest.raises(ConfigError, match=r"metrics\.listen: expected an address"):
        settings_from_toml({"metrics": {"listen": value}}, tmp_path / "veille.toml")


def test_healthz_answers_503_with_the_reason():
    reason: list[str | None] = ["the database does not answer: disk I/O error"]
    metrics = Metrics()
    metrics.observe(FeedOutcome("https://f", "ok", new_entries=3, fetch_seconds=0.2))
    server = MetricsServer(("127.0.0.1", 0), metrics, lambda: reason[0])
    server.start()
    try:
        status, _, body = get(f"{server.url}/healthz")
        assert (status, body) == (503, "the database does not answer: disk I/O error\n")
        reason[0] = None
        assert get(f"{server.url}/healthz")[::2] == (200, "ok\n")
        found = samples(get(f"{server.url}/metrics")[2])
        assert found[("veille_new_entries_total", ())] == 3
        assert found[("veille_fetch_duration_seconds_bucket", (("le", "0.25"),))] == 1
    finally:
        server.stop()
    assert not any(t.name == "metrics" and t.is_alive() for t in threading.enumerate())


def test_a_port_in_use_is_a_config_error():
    first = MetricsServer(("127.0.0.1", 0), Metrics(), lambda: None)
    try:
        with pytest.raises(ConfigError, match="metrics.listen: cannot listen on"):
            MetricsServer(first.httpd.server_address[:2], Metrics(), lambda: None)
    finally:
        first.httpd.server_close()


def test_health_reasons(tmp_path: Path):
    store = Store.open(tmp_path / "v.db")
    assert daemon_health(False, True, 1.0, store) is None
    assert daemon_health(True, True, 1.0, store) == "stopping"
    assert "scheduler has not run a job for 45 s" in daemon_health(False, True, 45.0, store)
    assert "scheduler" in daemon_health(False, False, 0.0, store)
    store.close()
    store.db.conn.close()  # this thread's fresh connection, closed: the database is gone
    assert "database does not answer" in daemon_health(False, True, 1.0, store)
