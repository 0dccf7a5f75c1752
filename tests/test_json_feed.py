"""JSON Feed on the wire: routed by Content-Type or by its first byte, then stored, deduplicated
and matched like RSS (the parse itself is covered by the golden files)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from veille.parse import ParseFailure, parse_feed
from veille.parse_json import looks_like_json

from .conftest import FeedServer, Workspace


def json_feed(items: list[dict]) -> str:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Fil JSON",
                       "items": items}, ensure_ascii=False)


@pytest.mark.parametrize("content_type", ["application/feed+json", "text/plain"])
def test_json_feed_is_fetched_matched_and_deduplicated(feed_server: FeedServer,
                                                       workspace: Workspace, content_type):
    items = [{"id": "1", "url": "https://ex.fr/1", "title": "Le Parti pirate en campagne",
              "content_html": "<p>Texte</p><script>x()</script>",
              "date_published": datetime.now(UTC).isoformat()}]
    url = feed_server.serve("/feed.json", json_feed(items), headers={"Content-Type": content_type})
    workspace.write_feeds([url])
    workspace.write_watchlists('[[watchlist]]\nname = "pirates"\nquery = \'"parti pirate"\'\n')
    assert "1 new entries" in workspace.run("fetch").stdout
    workspace.run("fetch")  # the same document again: nothing new
    entries = json.loads(workspace.run("entries", "--format", "json").stdout)
    assert [e["title"] for e in entries] == ["Le Parti pirate en campagne"]
    assert "script" not in json.dumps(entries)
    matches = json.loads(workspace.run("digest", "--format", "json").stdout)
    assert "Le Parti pirate en campagne" in json.dumps(matches, ensure_ascii=False)


def test_half_a_surrogate_pair_is_replaced_and_the_entry_stored(feed_server: FeedServer,
                                                                 workspace: Workspace):
    """JSON may escape half of a UTF-16 pair alone; such a string cannot be encoded (nh3,
    the entry key's hash and SQLite all refuse it), so it reads as U+FFFD."""
    half = "\\ud83d"  # as it stands in the document: a backslash escape
    body = ('{"version": "https://jsonfeed.org/version/1.1", "title": "Fil %s", "items": '
            '[{"id": "1", "url": "https://ex.fr/1", "title": "Parti pirate %s", '
            '"content_html": "<p>Texte %s</p>", "tags": ["tag%s"], '
            '"authors": [{"name": "Anne %s"}]}, '
            '{"id": "2", "title": "Deux", "content_text": "brut %s"}]}') % ((half,) * 6)
    url = feed_server.serve("/half.json", body, headers={"Content-Type": "application/feed+json"})
    workspace.write_feeds([url])
    assert "2 new entries" in workspace.run("fetch").stdout
    entries = {e["title"]: e for e in json.loads(
        workspace.run("entries", "--format", "json").stdout)}
    assert set(entries) == {"Parti pirate \ufffd", "Deux"}
    assert "Texte \ufffd" in json.dumps(entries, ensure_ascii=False)
    assert "brut \ufffd" in json.dumps(entries, ensure_ascii=False)


@pytest.mark.parametrize("body", [b'{"foo": 1}', b"[1, 2]", b'{"version": '])
def test_json_that_is_not_a_json_feed(body):
    result = parse_feed("https://x.example/f.json", body, {"content-type": "application/json"})
    assert isinstance(result, ParseFailure) and "not a feed" in result


@pytest.mark.parametrize("body, content_type, is_json", [
    (b'\xef\xbb\xbf  {"items": []}', "text/plain", True),
    (b"\n{", "application/octet-stream", True),
    (b"[]", "application/feed+json", True),
    (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
     "application/json", False),
    (b"<rss/>", "application/rss+xml", False),
])
def test_routing_by_content_type_and_first_byte(body, content_type, is_json):
    assert looks_like_json(body, {"content-type": content_type}) is is_json


def test_rss_mislabelled_as_json_is_still_parsed():
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><guid>1</guid><title>Un</title></item></channel></rss>")
    parsed = parse_feed("https://x.example/f", body, {"content-type": "application/json"})
    assert not isinstance(parsed, ParseFailure) and parsed.entries[0].title == "Un"
