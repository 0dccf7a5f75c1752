"""Shared fixtures: a real HTTP server on 127.0.0.1 serving feeds, and a veille workspace."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings as hypothesis_settings

from veille.cli import cli

Response = tuple[int, dict[str, str], bytes]
Route = Callable[["Request"], Response]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes = b""
    method: str = "GET"
    at: float = field(default_factory=time.monotonic)
    client: tuple[str, int] | None = None  # the connection's address: keep-alive is visible


@dataclass
class FeedServer:
    """Routes are functions of the request; every request is logged for the test to inspect."""

    host: str
    port: int
    routes: dict[str, Route | Response] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def wait_for(self, path: str, count: int = 1, timeout: float = 30) -> list[Request]:
        """Block until `count` requests reached `path` (an event, not a sleep); fail the test
        if they have not after `timeout` seconds."""
        with self.lock:
            arrived = self.arrived.wait_for(lambda: len(self.requests(path)) >= count, timeout)
            log = list(self.log)
        seen = Counter(f"{r.method} {r.path}" for r in log)
        assert arrived, (f"{count} request(s) to {path} expected within {timeout:g}s; "
                         f"the server received: {dict(seen) or 'nothing'}")
        return self.requests(path)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes | str, status: int = 200,
              headers: dict[str, str] | None = None) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = (status, {"Content-Type": "application/rss+xml; charset=utf-8",
                                      **(headers or {})}, data)
        return self.url(path)

    def requests(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.path == path]


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            self._answer(self.rfile.read(length), "POST")

        def do_GET(self) -> None:  # noqa: N802
            self._answer(b"", "GET")

        def _answer(self, body: bytes, method: str) -> None:
            request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                              method, client=self.client_address[:2])
            with server.lock:
                server.log.append(request)
                server.arrived.notify_all()
            route = server.routes.get(self.path)
            if route is None:
                status, headers, body = 404, {}, b"not found"
            elif callable(route):
                result = route(request)
                if result is None:  # the route streamed its own answer
                    return
                status, headers, body = result
            else:
                status, headers, body = route
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer("127.0.0.1", 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


def rss(items: list[dict[str, str]], title: str = "Fil de test", extra: str = "") -> str:
    """An RSS 2.0 document; each item dict may have title, link, guid, description, pubDate…"""
    parts = []
    for item in items:
        fields = "".join(
            f"<{k}>{escape(v)}</{k}>" if k != "content" else
            f"<content:encoded><![CDATA[{v}]]></content:encoded>"
            for k, v in item.items()
        )
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{escape(title)}</title><link>https://example.org/</link>{extra}"
        + "".join(parts) + "</channel></rss>"
    )


def pubdate(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


class StubParser:
    """A stand-in for parser_pool.ParserPool in pass tests: subclasses give `parse`; the
    load hint a pass gives the pool (`expect`) is ignored unless a test overrides it."""

    def expect(self, bodies: int) -> None:
        pass

    def prepare_with(self, key: str, state: object) -> None:
        pass

    async def parse(self, url: str, body: bytes, headers: dict[str, str],
                    known: Any = None) -> Any:
        raise NotImplementedError


@dataclass
class Workspace:
    root: Path
    runner: CliRunner

    @property
    def config(self) -> Path:
        return self.root / "veille.toml"

    def write_config(self, extra: str = "", fetch: str = "") -> None:
        self.config.write_text(
            'database = "var/veille.db"\nfeeds = "feeds.opml"\nwatchlists = "watchlists.toml"\n'
            f'timezone = "Europe/Paris"\n{extra}\n[fetch]\ninterval = "30m"\ntimeout = "5s"\n'
            f"{fetch}\n", encoding="utf-8")

    def write_feeds(self, urls: list[str] | dict[str, list[str]]) -> None:
        folders = urls if isinstance(urls, dict) else {"": urls}
        body = []
        for folder, items in folders.items():
            lines = "".join(f'<outline type="rss" text="{escape(u)}" xmlUrl="{escape(u)}"/>'
                            for u in items)
            body.append(f'<outline text="{folder}">{lines}</outline>' if folder else lines)
        (self.root / "feeds.opml").write_text(
            f'<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head>'
            f'<body>{"".join(body)}</body></opml>', encoding="utf-8")

    def write_watchlists(self, text: str) -> None:
        (self.root / "watchlists.toml").write_text(text, encoding="utf-8")

    def run(self, *args: str, code: int | None = 0) -> Result:
        result = self.runner.invoke(cli, ["--config", str(self.config), *args],
                                    catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (result.output, result.stderr)
        return result


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path, CliRunner())
    ws.write_config()
    ws.write_feeds([])
    ws.write_watchlists("")
    return ws


@dataclass
class MailSink:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)


def smtp_controller(handler: Any, **options: Any) -> Any:
    """A started aiosmtpd server on 127.0.0.1; its port is `.port`. The kernel picks the port
    as the server binds it (port 0), so no other process can take it between a pick and a
    bind. The caller stops it with `.stop()`."""
    from aiosmtpd.controller import Controller

    class PortZeroController(Controller):
        async def _create_server(self) -> asyncio.AbstractServer:  # type: ignore[override]
            server = await self.loop.create_server(self._factory_invoker, host=self.hostname,
                                                   port=0, ssl=self.ssl_context)
            self.port = server.sockets[0].getsockname()[1]  # before start() connects to it
            return server

    controller = PortZeroController(handler, hostname="127.0.0.1", port=0,
                                    ready_timeout=30, **options)
    controller.start()
    assert controller.port != 0
    return controller


@pytest.fixture
def smtp_server() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    sink = MailSink("127.0.0.1", 0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            sink.messages.append(envelope)
            return "250 2.0.0 Ok: queued as VEILLE42"

    controller = smtp_controller(Handler())
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connections are refused: bound by this test and held, but
    never listening, so no other process can start listening there meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


# Property tests check what holds, not how fast: a loaded CI machine must not fail them.
hypothesis_settings.register_profile("veille", deadline=None)
hypothesis_settings.load_profile("veille")
