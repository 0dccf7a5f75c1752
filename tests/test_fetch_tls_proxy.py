"""The feed fetch path's TLS verification and proxies, against real servers on 127.0.0.1:
a certificate is verified against SSL_CERT_FILE (else certifi's bundle); proxy environment
variables are honoured with `allow_private = true` and ignored with `false`."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
import trustme

from veille.config import FetchSettings
from veille.fetch import Fetcher, FetchRequest

from .conftest import FeedServer, _handler, rss


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[FeedServer, str]]:
    """A feed server speaking HTTPS with a certificate for 127.0.0.1 from a test CA; yields
    the server and the path of the CA's certificate."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    state = FeedServer("127.0.0.1", 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    yield state, str(ca_file)
    httpd.shutdown()
    httpd.server_close()


def fetch(settings: FetchSettings, *urls: str):
    async def run():
        async with Fetcher(settings) as fetcher:
            return [await fetcher.fetch(FetchRequest(u, u)) for u in urls]
    return asyncio.run(run())


def test_a_certificate_is_verified(tls_server, monkeypatch):
    server, ca_file = tls_server
    server.serve("/f.xml", rss([{"title": "Un", "guid": "1"}]))
    url = f"https://127.0.0.1:{server.port}/f.xml"
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    [refused] = fetch(FetchSettings(), url)  # the test CA is not in certifi's bundle
    assert refused.error_kind == "connect" and "certificate" in refused.error_message.lower()
    assert server.requests("/f.xml") == []
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    [ok] = fetch(FetchSettings(), url)
    assert ok.status == "ok" and b"<title>Un</title>" in ok.body


def test_proxy_variables_only_with_allow_private(feed_server: FeedServer, monkeypatch):
    """The proxy is the feed server: it sees the absolute URL a client sends a proxy."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", feed_server.url(""))
    target = "http://feeds.example/f.xml"
    feed_server.serve(target, rss([{"title": "Un", "guid": "1"}]))
    [ok] = fetch(FetchSettings(), target)
    assert ok.status == "ok" and len(feed_server.requests(target)) == 1
    [refused] = fetch(FetchSettings(allow_private=False), "http://localhost/f.xml")
    assert refused.error_kind == "private_address"  # resolved and checked, not proxied
    assert len(feed_server.log) == 1
