"""`veille fetch` against a real HTTP server on 127.0.0.1: what goes over the wire, and what is stored."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from datetime import UTC, datetime, timedelta

import brotli
import pytest

from .conftest import FeedServer, Request, Workspace, pubdate, rss

NOW = datetime.now(UTC)


def items(n: int, prefix: str = "Article") -> list[dict[str, str]]:
    return [{"title": f"{prefix} {i}", "link": f"https://example.org/a/{i}",
             "guid": f"urn:a:{i}", "pubDate": pubdate(NOW - timedelta(minutes=i)),
             "description": f"Résumé numéro {i}"} for i in range(n)]


def entries_json(ws: Workspace, *args: str) -> list[dict]:
    return json.loads(ws.run("entries", "--format", "json", *args).stdout)


def feeds_json(ws: Workspace) -> dict[str, dict]:
    return {f["url"]: f for f in json.loads(ws.run("feeds", "list", "--format", "json").stdout)}


def test_fetch_stores_entries_with_accents(feed_server: FeedServer, workspace: Workspace):
    url = feed_server.serve("/f.xml", rss([
        {"title": "Élysée : le président reçoit les syndicats", "link": "https://ex.fr/1",
         "guid": "1", "description": "<p>Cœur du débat&nbsp;: l’Œuvre</p>",
         "pubDate": pubdate(NOW)}], title="Société Générale d’Info"))
    workspace.write_feeds([url])
    out = workspace.run("fetch").stdout
    assert "1 feeds: 1 ok" in out and "1 new entries" in out
    [entry] = entries_json(workspace)
    assert entry["title"] == "Élysée : le président reçoit les syndicats"
    assert entry["summary"] == "Cœur du débat : l’Œuvre"  # entities decoded, spaces folded
    assert entry["feed"] == url and entry["link"] == "https://ex.fr/1"
    assert {"title", "link", "feed", "published", "first_seen"} <= entry.keys()
    # the user-agent is veille's own
    assert feed_server.requests("/f.xml")[0].headers["user-agent"].startswith("veille/")


def test_conditional_get_on_the_wire(feed_server: FeedServer, workspace: Workspace):
    body = rss(items(3)).encode()

    def route(request: Request):
        if request.headers.get("if-none-match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"ETag": '"v1"', "Last-Modified": "Tue, 24 Nov 2026 10:00:00 GMT",
                     "Content-Type": "application/rss+xml"}, body

    feed_server.routes["/c.xml"] = route
    workspace.write_feeds([feed_server.url("/c.xml")])
    workspace.run("fetch")
    out = workspace.run("fetch").stdout
    first, second = feed_server.requests("/c.xml")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == "Tue, 24 Nov 2026 10:00:00 GMT"
    assert "1 unchanged" in out and "0 new entries" in out
    assert len(entries_json(workspace)) == 3


def test_body_hash_skips_parse_when_validators_are_ignored(feed_server, workspace):
    url = feed_server.serve("/same.xml", rss(items(2)))
    workspace.write_feeds([url])
    assert "1 ok" in workspace.run("fetch").stdout
    assert "1 unchanged" in workspace.run("fetch").stdout


def test_dedup_and_updates_across_fetches(feed_server, workspace):
    url = feed_server.serve("/d.xml", rss(items(3)))
    workspace.write_feeds([url])
    workspace.run("fetch")
    before = {e["title"]: e for e in entries_json(workspace)}
    changed = items(4)
    changed[1]["title"] = "Article 1 (mis à jour)"
    feed_server.serve("/d.xml", rss(changed))
    out = workspace.run("fetch").stdout
    assert "1 new entries, 1 updated" in out
    after = {e["title"]: e for e in entries_json(workspace)}
    assert len(after) == 4
    updated = after["Article 1 (mis à jour)"]
    assert updated["id"] == before["Article 1"]["id"]
    assert updated["first_seen"] == before["Article 1"]["first_seen"]
    assert updated["changed_at"] is not None


def test_entries_without_guid_or_link_are_not_duplicated(feed_server, workspace):
    doc = rss([{"title": "Sans guid", "link": "https://ex.fr/x?utm_source=rss"},
               {"title": "Ni guid ni lien", "description": "texte"},
               {"title": "Sans date ni guid", "link": "https://ex.fr/y"}])
    url = feed_server.serve("/g.xml", doc)
    workspace.write_feeds([url])
    workspace.run("fetch")
    feed_server.serve("/g.xml", doc + "\n")  # new bytes, same entries
    assert "0 new entries" in workspace.run("fetch").stdout
    found = entries_json(workspace)
    assert len(found) == 3
    for e in found:  # undated entries count as published when first seen
        assert e["published"] == e["first_seen"]


def test_failures_are_recorded_and_counted(feed_server, workspace):
    bad = feed_server.serve("/500.xml", "boom", status=500)
    good = feed_server.serve("/ok.xml", rss(items(1)))
    html = feed_server.serve("/page.html", "<html><body>hello</body></html>",
                             headers={"Content-Type": "text/html"})
    workspace.write_feeds([bad, good, html, feed_server.url("/missing.xml")])
    result = workspace.run("fetch")  # exit 0 although feeds failed
    assert "4 feeds: 1 ok, 0 unchanged, 3 failed" in result.stdout
    assert "HTTP 500" in result.stderr
    workspace.run("fetch")
    state = feeds_json(workspace)
    assert state[bad]["status"] == "failing" and state[bad]["failures"] == 2
    assert state[bad]["last_status"] == 500 and state[bad]["error_kind"] == "http"
    assert state[html]["error_kind"] == "not_a_feed" and "not a feed" in state[html]["error"]
    assert state[feed_server.url("/missing.xml")]["last_status"] == 404
    assert state[good]["status"] == "ok" and state[good]["failures"] == 0


def test_size_cap_and_gzip_bomb(feed_server, workspace):
    workspace.write_config(fetch='max_size = "64KiB"')
    big = feed_server.serve("/big.xml", rss(items(1)) + " " * 200_000)
    bomb = feed_server.serve("/bomb.xml", gzip.compress(b" " * 50_000_000),
                             headers={"Content-Encoding": "gzip"})
    workspace.write_feeds([big, bomb])
    workspace.run("fetch")
    state = feeds_json(workspace)
    assert state[big]["error_kind"] == "too_large"
    assert state[bomb]["error_kind"] == "too_large"


def test_compressed_bodies_are_decoded(feed_server, workspace):
    doc = rss(items(2)).encode()
    urls = [
        feed_server.serve("/gz.xml", gzip.compress(doc), headers={"Content-Encoding": "gzip"}),
        feed_server.serve("/br.xml", brotli.compress(doc), headers={"Content-Encoding": "br"}),
        feed_server.serve("/df.xml", zlib.compress(doc), headers={"Content-Encoding": "deflate"}),
    ]
    workspace.write_feeds(urls)
    assert "3 ok" in workspace.run("fetch").stdout
    assert "gzip" in feed_server.requests("/gz.xml")[0].headers["accept-encoding"]


def test_slow_server_times_out(feed_server, workspace):
    workspace.write_config(fetch="")
    workspace.config.write_text(workspace.config.read_text().replace('timeout = "5s"',
                                                                      'timeout = "0.5s"'))
    release = feed_server.release

    def stall(request: Request):
        release.wait(10)
        return 200, {}, b""

    feed_server.routes["/slow.xml"] = stall
    ok = feed_server.serve("/ok.xml", rss(items(1)))
    workspace.write_feeds([feed_server.url("/slow.xml"), ok])
    assert "1 ok, 0 unchanged, 1 failed" in workspace.run("fetch").stdout
    assert feeds_json(workspace)[feed_server.url("/slow.xml")]["error_kind"] == "timeout"


def test_permanent_redirect_is_remembered(feed_server, workspace):
    new = feed_server.serve("/new.xml", rss(items(1)))
    feed_server.routes["/old.xml"] = (301, {"Location": "/new.xml"}, b"")
    old = feed_server.url("/old.xml")
    workspace.write_feeds([old])
    result = workspace.run("fetch")
    assert f"moved: {old} -> {new}" in result.stderr
    assert feeds_json(workspace)[old]["moved_to"] == new
    workspace.run("fetch")
    assert len(feed_server.requests("/old.xml")) == 1  # the second pass asked the new URL
    assert len(feed_server.requests("/new.xml")) == 2


def test_redirect_loop_is_an_error(feed_server, workspace):
    feed_server.routes["/a"] = (302, {"Location": "/b"}, b"")
    feed_server.routes["/b"] = (302, {"Location": "/a"}, b"")
    workspace.write_feeds([feed_server.url("/a")])
    workspace.run("fetch")
    state = feeds_json(workspace)[feed_server.url("/a")]
    assert state["error_kind"] == "redirect" and "loop" in state["error"]


def test_gone_feed_stops_until_outline_changes(feed_server, workspace):
    url = feed_server.serve("/gone.xml", "", status=410)
    workspace.write_feeds([url])
    assert "1 gone" in workspace.run("fetch").stdout
    assert feeds_json(workspace)[url]["status"] == "gone"
    workspace.run("fetch")
    assert len(feed_server.requests("/gone.xml")) == 1
    workspace.write_feeds({"renamed": [url]})  # the user edits the outline
    workspace.run("fetch")
    assert len(feed_server.requests("/gone.xml")) == 2


def test_bozo_feed_still_yields_entries_and_wrong_encoding(feed_server, workspace):
    broken = rss(items(2)).replace("</channel></rss>", "<item><title>cassé")
    latin = rss([{"title": "Café crème", "guid": "l1"}]).encode("utf-8").decode(
        "utf-8").encode("latin-1")
    urls = [feed_server.serve("/bozo.xml", broken),
            feed_server.serve("/latin.xml", latin)]
    workspace.write_feeds(urls)
    workspace.run("fetch")
    titles = {e["title"] for e in entries_json(workspace)}
    assert {"Article 0", "Article 1"} <= titles
    assert "Café crème" in titles


class InFlight:
    """Feeds whose requests are held until `release_at` are in flight at once (or `hold`
    seconds pass), recording the most in flight: what a per-host limit lets through."""

    def __init__(self, release_at: int, hold: float) -> None:
        self.release_at, self.hold = release_at, hold
        self.lock = threading.Lock()
        self.active = self.peak = 0
        self.all_in = threading.Event()

    def route(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            if self.active >= self.release_at:
                self.all_in.set()
        self.all_in.wait(self.hold)
        with self.lock:
            self.active -= 1
        return 200, {}, rss(items(1)).encode()

    def feeds(self, server: FeedServer, count: int, prefix: str) -> list[str]:
        for i in range(count):
            server.routes[f"/{prefix}{i}.xml"] = self.route
        return [server.url(f"/{prefix}{i}.xml") for i in range(count)]


def test_per_host_concurrency_is_bounded(feed_server, workspace):
    workspace.write_config(fetch="per_host = 2")
    # a third concurrent request would release everyone at once
    probe = InFlight(release_at=3, hold=0.2)
    workspace.write_feeds(probe.feeds(feed_server, 6, "h"))
    workspace.run("fetch")
    assert probe.peak == 2


def test_fetch_only_some_feeds(feed_server, workspace):
    a = feed_server.serve("/a.xml", rss(items(1)))
    b = feed_server.serve("/b.xml", rss(items(1)))
    workspace.write_feeds([a, b])
    workspace.run("fetch", "--feed", a)
    assert feed_server.requests("/b.xml") == []
    workspace.run("fetch", "--due")  # b was never polled, a is not due for 30 minutes
    assert len(feed_server.requests("/a.xml")) == 1 and len(feed_server.requests("/b.xml")) == 1
    assert "no feed" in workspace.run("fetch", "--feed", "https://nope", code=1).stderr


def test_entries_filters(feed_server, workspace):
    a = feed_server.serve("/a.xml", rss(items(5)))
    workspace.write_feeds([a])
    workspace.run("fetch")
    assert len(entries_json(workspace, "--limit", "2")) == 2
    titles = [e["title"] for e in entries_json(workspace)]
    assert titles == [f"Article {i}" for i in range(5)]  # newest first
    assert entries_json(workspace, "--since", "2030-01-01") == []
    assert len(entries_json(workspace, "--since", "1h", "--feed", a)) == 5
    text = workspace.run("entries").stdout
    assert "Article 0" in text and "https://example.org/a/0" in text


def test_retry_after_holds_every_feed_of_the_host(feed_server, workspace):
    feed_server.routes["/busy.xml"] = (429, {"Retry-After": "3600"}, b"slow down")
    other = feed_server.serve("/other.xml", rss(items(1)))
    workspace.write_feeds([feed_server.url("/busy.xml")])
    workspace.run("fetch")
    workspace.write_feeds([feed_server.url("/busy.xml"), other])

    import asyncio

    from veille.app import App
    from veille.config import load_settings
    from veille.fetch import Fetcher
    from veille.pipeline import FeedPass, ParserPool

    app = App(load_settings(workspace.config, {}))
    feeds = app.sync_feeds()

    async def one_pass():
        async with Fetcher(app.settings.fetch) as fetcher:
            feed_pass = FeedPass(app.settings, app.store, fetcher, ParserPool(1),
                                 app.matcher(), app.clock)
            first = await feed_pass.run([f for f in feeds if f.url.endswith("busy.xml")])
            assert 3590 < fetcher.host_wait("127.0.0.1") <= 3600
            return first, await feed_pass.run([f for f in feeds if f.url == other])

    first, second = asyncio.run(one_pass())
    app.close()
    assert first.outcomes[0].status == "failed"
    assert second.outcomes[0].status == "deferred"
    assert feed_server.requests("/other.xml") == []  # never asked while the host waits
    state = feeds_json(workspace)
    assert state[other]["failures"] == 0
    due = datetime.fromisoformat(state[other]["next_due"])
    assert due - datetime.now(UTC) > timedelta(minutes=59)
    busy = state[feed_server.url("/busy.xml")]
    assert busy["failures"] == 2 and busy["last_status"] == 429


def test_unusable_urls_are_recorded_not_fatal(feed_server, workspace):
    ok = feed_server.serve("/ok.xml", rss(items(1)))
    workspace.write_feeds(["ftp://example.org/feed.xml", "http://[::1", ok])
    assert "3 feeds: 1 ok, 0 unchanged, 2 failed" in workspace.run("fetch").stdout
    state = feeds_json(workspace)
    assert state["ftp://example.org/feed.xml"]["error_kind"] == "url"
    assert state["http://[::1"]["failures"] == 1


def test_progress_on_a_terminal_only(feed_server, workspace):
    import os
    import pty
    import subprocess
    import sys

    urls = [feed_server.serve(f"/p{i}.xml", rss(items(1))) for i in range(3)]
    workspace.write_feeds(urls)
    quiet = workspace.run("fetch")
    assert "\r" not in quiet.stderr and "3/3 feeds" not in quiet.stderr
    leader, follower = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "veille", "--config", str(workspace.config),
                           "fetch"], stderr=follower, stdout=subprocess.PIPE, timeout=60)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.returncode == 0 and b"3 feeds:" in proc.stdout
    assert b"\r3/3 feeds" in shown


def test_host_delay_spaces_requests_to_one_host(feed_server, workspace, monkeypatch):
    """host_delay as the Fetcher schedules it, not as a loaded machine happens to deliver it:
    the Fetcher's clock stands still, asyncio.sleep is recorded (and only yields), and each
    request's release time is that clock plus what its task slept before it went out."""
    import asyncio

    import aiohttp

    from veille.config import load_settings
    from veille.fetch import Fetcher, FetchRequest

    workspace.write_config(fetch='host_delay = "0.3s"')
    settings = load_settings(workspace.config, {}).fetch
    assert settings.host_delay == 0.3 and settings.per_host < 5  # some requests queue too
    urls = [feed_server.serve(f"/d{i}.xml", rss(items(1))) for i in range(5)]
    start = 1000.0
    slept: dict[asyncio.Task, float] = {}
    released: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float, result=None):
        if delay > 0:
            task = asyncio.current_task()
            slept[task] = slept.get(task, 0.0) + delay
        return await real_sleep(0, result)

    async def on_request_start(session, context, params):
        """Notes when each request goes out, in the Fetcher's time (run by the request's task)."""
        released.append(start + slept.pop(asyncio.current_task(), 0.0))

    recorder = aiohttp.TraceConfig()
    recorder.on_request_start.append(on_request_start)

    async def fetch_all():
        async with Fetcher(settings, trace_configs=[recorder], clock=lambda: start) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(FetchRequest(u, u)) for u in urls))

    with monkeypatch.context() as patch:
        patch.setattr(asyncio, "sleep", recorded_sleep)
        results = asyncio.run(fetch_all())
    assert [r.status for r in results] == ["ok"] * 5
    assert len(feed_server.log) == 5
    # one request at once, then one every 0.3 s of the Fetcher's clock, in a queue
    assert sorted(released) == pytest.approx([start + 0.3 * i for i in range(5)]), released


def test_request_headers_on_the_wire(feed_server, workspace):
    """What every feed request says: veille's User-Agent, the feed types it prefers, the
    encodings it decodes itself (brotli included), and nothing decoded for it."""
    from veille.fetch_http import ACCEPT

    url = feed_server.serve("/h.xml", rss(items(1)))
    workspace.write_feeds([url])
    workspace.run("fetch")
    [request] = feed_server.requests("/h.xml")
    assert request.headers["accept"] == ACCEPT
    assert request.headers["accept-encoding"] == "gzip, deflate, br"
    assert request.headers["user-agent"].startswith("veille/")
