"""The fetch pass honours its limits and does no work it does not need: per-host limits,
keep-alive on unchanged feeds and error pages, a bounded number of idle connections, state
writes in batches, no parser process for 304s, no delivery libraries (nor the fetch client)
loaded by commands that do not need them."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from veille.app import App
from veille.config import load_settings
from veille.fetch import Fetcher
from veille.pipeline import FeedPass

from .conftest import FeedServer, Request, StubParser, Workspace, rss
from .test_fetch_wire import InFlight, items


def test_per_host_may_exceed_one_pool_of_ten(feed_server: FeedServer, workspace: Workspace):
    """per_host = 12 means 12 requests at once to one host (one pool of 10 capped it)."""
    workspace.write_config(fetch="per_host = 12\nconcurrency = 32")
    probe = InFlight(release_at=12, hold=10)
    workspace.write_feeds(probe.feeds(feed_server, 12, "p"))
    workspace.run("fetch")
    assert probe.peak == 12


def _etag_route(body: bytes):
    def route(request: Request):
        if request.headers.get("if-none-match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"ETag": '"v1"', "Content-Type": "application/rss+xml"}, body
    return route


def _etag_feeds(feed_server: FeedServer, workspace: Workspace, n: int, prefix: str
                ) -> None:
    """`n` feeds of two items that answer 304 to their ETag, written to the workspace."""
    urls = []
    for i in range(n):
        path = f"/{prefix.lower()}{i}.xml"
        feed_server.routes[path] = _etag_route(rss(items(2, f"{prefix}{i}")).encode())
        urls.append(feed_server.url(path))
    workspace.write_feeds(urls)


def test_unchanged_feeds_reuse_one_connection(feed_server: FeedServer, workspace: Workspace):
    """A 304 leaves its connection open for the next request (an unread answer closed it)."""
    workspace.write_config(fetch="per_host = 1")
    _etag_feeds(feed_server, workspace, 8, "K")
    workspace.run("fetch")
    first = len(feed_server.log)
    out = workspace.run("fetch").output
    assert "8 unchanged" in out
    second = feed_server.log[first:]
    assert [r.headers.get("if-none-match") for r in second] == ['"v1"'] * 8
    assert len({r.client for r in second}) == 1


def test_unchanged_states_commit_together_before_the_feed_is_done(feed_server, workspace):
    """Eight 304s: fewer transactions than feeds, each state in the store when its feed is
    reported done, and no parser process started."""
    _etag_feeds(feed_server, workspace, 8, "B")
    workspace.run("fetch")
    app = App(load_settings(workspace.config, {}))
    feeds = app.sync_feeds()
    before = {f.url: f.last_fetch for f in feeds}
    parser = app.parser_pool()
    begins: list[str] = []
    app.store.db.conn.set_trace_callback(
        lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None)
    seen_done = []

    def on_done(outcome):
        state = app.store.feed(outcome.url)
        seen_done.append(state.last_fetch != before[outcome.url])

    async def one_pass():
        async with Fetcher(app.settings.fetch) as fetcher:
            feed_pass = FeedPass(app.settings, app.store, fetcher, parser, app.matcher(),
                                 app.clock)
            return await feed_pass.run(feeds, on_done)

    summary = asyncio.run(one_pass())
    app.store.db.conn.set_trace_callback(None)
    assert [o.status for o in summary.outcomes] == ["unchanged"] * 8
    assert seen_done == [True] * 8
    assert 1 <= len(begins) < 8
    assert parser.worker_pids() == [] and parser._executor is None
    parser.close()
    app.close()


def test_error_pages_leave_their_connection_open(feed_server: FeedServer, workspace: Workspace):
    """An error page is read (up to DRAIN_LIMIT) so its connection serves the next request."""
    workspace.write_config(fetch="per_host = 1")
    urls = []
    for i in range(4):
        feed_server.routes[f"/e{i}.xml"] = (404, {"Content-Type": "text/html"}, b"<p>x</p>" * 500)
        urls.append(feed_server.url(f"/e{i}.xml"))
    workspace.write_feeds(urls)
    assert "4 failed" in workspace.run("fetch").stdout
    assert len(feed_server.log) == 4 and len({r.client for r in feed_server.log}) == 1


def test_idle_connections_are_closed_beyond_the_host_cap(monkeypatch):
    """Idle keep-alive connections are kept for a bounded number of hosts (the least recently
    used closed beyond), so a daemon watching 10,000 hosts holds a bounded number of sockets.
    Six servers on 127.0.0.1 (six hosts to the connector), a cap of two."""
    from veille import fetch_http
    from veille.config import FetchSettings
    from veille.fetch import FetchRequest

    monkeypatch.setattr(fetch_http, "MIN_IDLE_HOSTS", 2)
    body = rss(items(1)).encode()
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    opened: list[int] = []
    closed: list[int] = []

    async def run():
        four_closed = asyncio.Event()

        def handler(index: int):
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
                opened.append(index)
                try:
                    while True:
                        await reader.readuntil(b"\r\n\r\n")
                        writer.write(answer)
                        await writer.drain()
                except (asyncio.IncompleteReadError, ConnectionError):
                    pass
                finally:
                    closed.append(index)
                    if len(closed) >= 4:
                        four_closed.set()
                    writer.close()
            return handle

        servers = [await asyncio.start_server(handler(i), "127.0.0.1", 0) for i in range(6)]
        urls = [f"http://127.0.0.1:{s.sockets[0].getsockname()[1]}/f.xml" for s in servers]
        async with Fetcher(FetchSettings(concurrency=1)) as fetcher:
            for url in urls:
                assert (await fetcher.fetch(FetchRequest(url, url))).status == "ok"
            await asyncio.wait_for(four_closed.wait(), 30)
            again = await fetcher.fetch(FetchRequest(urls[-1], urls[-1]))  # kept: reused
            assert again.status == "ok"
        for server in servers:
            server.close()

    asyncio.run(run())
    assert sorted(closed[:4]) == [0, 1, 2, 3]
    assert opened == [0, 1, 2, 3, 4, 5]


def test_commands_do_not_import_delivery_libraries():
    """Jinja2, Apprise and APScheduler load when a digest, a channel or the daemon needs them."""
    code = ("import sys, veille.cli; print(' '.join(m for m in ('jinja2', 'apprise', "
            "'apscheduler') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == ""


def test_commands_do_not_import_the_fetch_client():
    """aiohttp loads when a Fetcher is built: `veille --version`, `entries` etc. never need it."""
    code = "import sys, veille.cli, veille.app; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_a_pass_where_nothing_changed_loads_no_parser(feed_server: FeedServer,
                                                     workspace: Workspace):
    """feedparser, lxml and veille's parse stack load with the first body: `veille fetch`
    over feeds that all answer 304 never imports them (about 60 ms of its start-up)."""
    _etag_feeds(feed_server, workspace, 3, "N")
    workspace.run("fetch")
    code = ("import sys\nfrom veille.cli import main\ntry:\n"
            f"    main(['--config', {str(workspace.config)!r}, 'fetch'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('LOADED', ' '.join(m for m in ('feedparser', 'lxml', 'veille.parse') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "3 unchanged" in out
    assert out.rstrip().endswith("LOADED")


def test_a_pass_holds_a_bounded_number_of_bodies(monkeypatch):
    """Downloads wait while BACKLOG feeds are between fetch and store (parsing is slower)."""
    import random
    from datetime import UTC, datetime

    from veille import pipeline
    from veille.config import settings_from_toml
    from veille.models import FeedSource, FetchResult, ParsedFeed
    from veille.store import Store

    monkeypatch.setattr(pipeline, "BACKLOG", 4)
    settings = settings_from_toml({"fetch": {"concurrency": 2}}, None, {"HOME": "/tmp"})
    store = Store.memory()
    store.sync_feeds([FeedSource(f"https://f{i}") for i in range(40)])
    started: list[str] = []
    release = asyncio.Event()

    class Fetcher:
        async def fetch(self, request):
            started.append(request.url)
            return FetchResult(request.url, "ok", 200, f"<rss>{request.url}</rss>".encode(), {})

    class SlowParser(StubParser):
        async def parse(self, url, body, headers, known=None):
            await release.wait()
            return ParsedFeed("t", None, None, None, ())

    async def run():
        feed_pass = FeedPass(settings, store, Fetcher(), SlowParser(), pipeline.Matcher([]),
                             lambda: datetime(2026, 1, 1, tzinfo=UTC), random.Random(1))
        task = asyncio.create_task(feed_pass.run(store.feeds()))
        for _ in range(50):
            await asyncio.sleep(0)
        waiting = len(started)
        release.set()
        return waiting, await task

    waiting, summary = asyncio.run(run())
    assert waiting == 4
    assert len(started) == 40 and summary.count("ok") == 40


def test_overlapping_passes_share_one_bound_and_add_up_their_expected_bodies(monkeypatch):
    """The daemon starts a pass per tick, and a first round's passes overlap: with the
    daemon's shared slots they hold BACKLOG feeds in flight in all (each its own BACKLOG
    before: 60 ticks, 60 times the bodies), and the pool hears the sum of the bodies they
    are sure to bring, each pass taking back its own as its feeds finish."""
    import random
    from datetime import UTC, datetime

    from veille import pipeline
    from veille.config import settings_from_toml
    from veille.models import FeedSource, FetchResult, ParsedFeed
    from veille.store import Store

    monkeypatch.setattr(pipeline, "BACKLOG", 4)
    settings = settings_from_toml({"fetch": {"concurrency": 2}}, None, {"HOME": "/tmp"})
    store = Store.memory()
    store.sync_feeds([FeedSource(f"https://f{i}") for i in range(30)])
    started: list[str] = []
    gates = {"a": asyncio.Event(), "b": asyncio.Event()}

    class Fetcher:
        async def fetch(self, request):
            started.append(request.url)
            return FetchResult(request.url, "ok", 200, b"<rss/>", {})

    class GatedParser(StubParser):
        expected = 0

        def expect(self, bodies: int) -> None:
            GatedParser.expected += bodies

        async def parse(self, url, body, headers, known=None):
            await gates["a" if int(url.rsplit("f", 1)[1]) < 10 else "b"].wait()
            return ParsedFeed("t", None, None, None, ())

    async def settle():
        for _ in range(50):
            await asyncio.sleep(0)

    async def run():
        slots = pipeline.feed_slots(per_host=8)
        passes = [FeedPass(settings, store, Fetcher(), GatedParser(), pipeline.Matcher([]),
                           lambda: datetime(2026, 1, 1, tzinfo=UTC), random.Random(1),
                           slots=slots) for _ in range(2)]
        feeds = sorted(store.feeds(), key=lambda f: int(f.url.rsplit("f", 1)[1]))
        done: list[str] = []
        some_done = asyncio.Event()

        def on_done(outcome):
            done.append(outcome.url)
            some_done.set()

        first = asyncio.create_task(passes[0].run(feeds[:10], on_done))
        await settle()
        second = asyncio.create_task(passes[1].run(feeds[10:], on_done))
        await settle()
        in_flight, expected_both = len(started), GatedParser.expected
        gates["a"].set()  # some of the first pass's feeds finish; the second's wait on "b"
        await asyncio.wait_for(some_done.wait(), 30)
        expected_later = GatedParser.expected, 30 - len(done)
        gates["b"].set()
        await asyncio.gather(first, second)
        return in_flight, expected_both, expected_later

    in_flight, expected_both, (expected_later, not_done) = asyncio.run(run())
    assert in_flight == 4
    assert expected_both == 30
    assert expected_later == not_done < 30
    assert len(started) == 30 and GatedParser.expected == 0


def test_feeds_waiting_for_a_slow_host_do_not_hold_the_shared_places(monkeypatch):
    """Twenty feeds of a host that does not answer, and three of another, in the daemon's
    shared places (4 in all, 2 per host): the slow host holds 2 places, not all 4, so the
    other host's feeds are polled meanwhile; and once all are done no host is kept."""
    import random
    from datetime import UTC, datetime

    from veille import pipeline
    from veille.config import settings_from_toml
    from veille.models import FeedSource, FetchResult
    from veille.store import Store

    monkeypatch.setattr(pipeline, "BACKLOG", 4)
    settings = settings_from_toml({"fetch": {"concurrency": 8}}, None, {"HOME": "/tmp"})
    store = Store.memory()
    slow = [f"https://lent.example/{i}" for i in range(20)]
    quick = [f"https://vif.example/{i}" for i in range(3)]
    store.sync_feeds([FeedSource(u) for u in slow + quick])
    answer = asyncio.Event()
    done: list[str] = []

    class Fetcher:
        async def fetch(self, request):
            if "lent" in request.url:
                await answer.wait()
            return FetchResult(request.url, "error", 500, error_kind="http",
                               error_message="HTTP 500")

    async def run():
        slots = pipeline.feed_slots(per_host=2)
        feeds = {f.url: f for f in store.feeds()}

        def feed_pass():
            return FeedPass(settings, store, Fetcher(), StubParser(), pipeline.Matcher([]),
                            lambda: datetime(2026, 1, 1, tzinfo=UTC), random.Random(1),
                            slots=slots)

        quick_done = asyncio.Event()

        def on_done(outcome):
            done.append(outcome.url)
            if all(u in done for u in quick):
                quick_done.set()

        first = asyncio.create_task(feed_pass().run([feeds[u] for u in slow], on_done))
        await asyncio.sleep(0)
        second = asyncio.create_task(feed_pass().run([feeds[u] for u in quick], on_done))
        await asyncio.wait_for(quick_done.wait(), 30)  # while the slow host still waits
        slow_done_meanwhile = sum(u in done for u in slow)
        answer.set()
        await asyncio.gather(first, second)
        return slow_done_meanwhile, slots.hosts()

    slow_done_meanwhile, hosts_left = asyncio.run(run())
    assert slow_done_meanwhile == 0
    assert sorted(done[:3]) == sorted(quick) and len(done) == 23
    assert hosts_left == 0
