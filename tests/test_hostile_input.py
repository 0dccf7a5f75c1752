"""Hostile input found by fuzzing the parse path: each gives a clear result and the rest of
the work goes on, instead of an exception, a hang or a feed that can never be stored."""

from __future__ import annotations

import json
import subprocess
import sys

import feedparser
import pytest

from veille.char_refs import repair_char_refs
from veille.parse import ParsedFeed, ParseFailure, parse_feed

from .conftest import FeedServer, Workspace

RSS = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Fil</title>'
       "<item><guid>1</guid><link>https://ex.fr/1</link><title>Parti pirate</title></item>"
       "</channel></rss>")


def test_a_run_of_comments_before_no_html_is_answered_at_once() -> None:
    """The HTML-page check backtracked exponentially into a run of comments: 30 of them held
    a parser process past its time limit, and its whole pool was killed."""
    code = ("from veille.parse import is_html_page, parse_feed\n"
            "body = b'<!---->' * 40 + b'x'\n"
            "print(is_html_page(body, {}), type(parse_feed('https://ex.fr/f', body, {})).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["False", "ParseFailure"]


def test_an_html_page_after_comments_is_still_one() -> None:
    from veille.parse import is_html_page

    assert is_html_page(b"<!-- a -->\n<!-- b -->\n<!DOCTYPE html><html></html>", {})


def test_an_update_period_with_attributes_is_ignored() -> None:
    body = (b'<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
            b'<channel><title>t</title><sy:updatePeriod foo="x">hourly</sy:updatePeriod>'
            b"<item><guid>1</guid><title>a</title></item></channel></rss>")
    parsed = parse_feed("https://ex.fr/rss", body, {})
    assert isinstance(parsed, ParsedFeed) and parsed.ttl is None
    assert [e.title for e in parsed.entries] == ["a"]


def test_json_feed_dates_out_of_datetimes_range_read_as_none() -> None:
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "title": "a", "date_published": "0001-01-01T00:00:00+01:00"},
        {"id": "2", "title": "b", "date_modified": "9999-12-31T23:59:59-01:00"}]}).encode()
    parsed = parse_feed("https://ex.fr/feed.json", body, {"content-type": "application/json"})
    assert isinstance(parsed, ParsedFeed)
    assert [(e.title, e.published, e.updated) for e in parsed.entries] == [
        ("a", None, None), ("b", None, None)]


def test_long_and_zero_padded_references_are_repaired() -> None:
    assert repair_char_refs(b"&#99999999999;&#x100000000;") == b"&#65533;&#65533;"
    assert repair_char_refs(b"&#000000000055357;&#x0000000DE00;") == b"&#128512;"
    assert repair_char_refs(b"&#" + b"9" * 5000 + b";") == b"&#65533;"
    body = RSS.replace("Parti pirate", "Parti &#99999999999; pirate &#0000055357;").encode()
    parsed = parse_feed("https://ex.fr/rss", body, {})
    assert not isinstance(parsed, ParseFailure)
    assert [e.title for e in parsed.entries] == ["Parti \ufffd pirate \ufffd"]


def test_header_bytes_that_are_not_utf8_are_stored(feed_server: FeedServer,
                                                   workspace: Workspace) -> None:
    """http.server sends these as Latin-1 bytes, which aiohttp keeps as lone surrogates."""
    url = feed_server.serve("/latin1.xml", RSS, headers={
        "Content-Language": "fr-é", "ETag": '"é1"', "Last-Modified": "lundi é"})
    workspace.write_feeds([url])
    assert "1 new entries" in workspace.run("fetch").stdout
    assert "0 failed" in workspace.run("fetch").stdout
    entries = json.loads(workspace.run("entries", "--format", "json").stdout)
    assert [(e["title"], e["language"]) for e in entries] == [("Parti pirate", "fr-\ufffd")]
    # validators that could not be sent back as they came are not kept (they never match)
    second = feed_server.requests("/latin1.xml")[-1]
    assert "if-none-match" not in second.headers and "if-modified-since" not in second.headers


def test_a_redirect_to_a_latin1_location_is_followed(feed_server: FeedServer,
                                                    workspace: Workspace) -> None:
    """Its bytes are percent-encoded, as a browser sends them: /caf\xe9.xml is /caf%E9.xml."""
    feed_server.serve("/caf%E9.xml", RSS)
    url = feed_server.serve("/old.xml", "", status=302, headers={"Location": "/café.xml"})
    workspace.write_feeds([url])
    assert "1 new entries" in workspace.run("fetch").stdout
    assert feed_server.requests("/caf%E9.xml")


_NAMESPACES = (b'xmlns:media="http://search.yahoo.com/mrss/" '
               b'xmlns:gml="http://www.opengis.net/gml" '
               b'xmlns:creativeCommons="http://backend.userland.com/creativeCommonsRssModule"')


@pytest.mark.parametrize("stray", [
    b"<image><url>http://a/i.png</url><width>88</width><heigth>31</height></image>",  # a typo
    b"</media:player>", b"</gml:pos>", b"</creativeCommons:license>",
    b"<image><link><br/></link></image>",
])
def test_a_stray_end_tag_drops_its_element_not_the_feed(stray: bytes) -> None:
    """feedparser's loose parser failed in the end handler and lost the whole feed."""
    body = (b'<rss version="2.0" ' + _NAMESPACES + b"><channel><title>t</title>" + stray
            + b"<item><guid>1</guid><title>a</title></item>"
            b"<item><guid>2</guid><title>b</title></item></channel></rss>")
    parsed = parse_feed("https://ex.fr/rss", body, {})
    assert isinstance(parsed, ParsedFeed), parsed
    assert [e.title for e in parsed.entries] == ["a", "b"]


def test_the_guard_leaves_feedparsers_handlers_working() -> None:
    body = (b'<rss version="2.0"><channel><title>t</title><image><url>http://a/i.png</url>'
            b"<width>88</width></image><item><guid>1</guid><title>a</title></item>"
            b"</channel></rss>")
    d = feedparser.parse(body)
    assert d.feed.image.width == 88 and d.entries[0].title == "a"
