"""References that name no character (UTF-16 halves, past U+10FFFF) no longer cost the whole
feed: halves of a pair make their character, anything else U+FFFD (char_refs.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from veille.char_refs import repair_char_refs
from veille.parse import ParsedFeed, parse_feed

from .conftest import FeedServer, Workspace


@pytest.mark.parametrize(("body", "repaired"), [
    (b"a &#55357;&#56832; b", b"a &#128512; b"),  # a pair: the emoji it makes
    (b"&#xD83D;&#xdE00;", b"&#128512;"),  # hexadecimal, any case
    (b"&#55357; &#56832;", b"&#65533; &#65533;"),  # not adjacent: two halves alone
    (b"&#56832;&#55357;", b"&#65533;&#65533;"),  # in the wrong order
    (b"&#55357;&#55357;&#56832;", b"&#65533;&#128512;"),  # a lone half, then a pair
    (b"&#1114112;&#x110000;", b"&#65533;&#65533;"),  # past U+10FFFF
    (b"&#233;&#x1F600;&#65533;&amp;", b"&#233;&#x1F600;&#65533;&amp;"),  # sound: kept
    (b"no reference", b"no reference"),
])
def test_repair_char_refs(body: bytes, repaired: bytes) -> None:
    assert repair_char_refs(body) == repaired


def test_a_sound_document_is_returned_as_it_is() -> None:
    body = b"<rss>&#233; &amp; &#x1F600;</rss>"
    assert repair_char_refs(body) is body


def _rss(title: bytes) -> bytes:
    return (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Fil'
            b"</title><item><guid>1</guid><link>https://ex.fr/1</link><title>" + title
            + b"</title><description>Texte " + title + b"</description></item>"
            b"</channel></rss>")


@pytest.mark.parametrize(("ref", "text"), [
    (b"&#55357;&#56832;", "😀"), (b"&#55357;", "\ufffd"), (b"&#1114112;", "\ufffd")])
def test_feedparser_reads_the_feed_instead_of_failing(ref: bytes, text: str) -> None:
    parsed = parse_feed("https://ex.fr/rss", _rss(b"Parti pirate " + ref), {})
    assert isinstance(parsed, ParsedFeed)
    assert [(e.title, e.summary_text) for e in parsed.entries] == [
        (f"Parti pirate {text}", f"Texte Parti pirate {text}")]


def test_the_feed_is_stored_and_matched_on_the_wire(feed_server: FeedServer,
                                                   workspace: Workspace) -> None:
    url = feed_server.serve("/emoji.xml", _rss(b"Parti pirate &#55357;&#56832; &#55357;"),
                            headers={"Content-Type": "application/rss+xml"})
    workspace.write_feeds([url])
    workspace.write_watchlists('[[watchlist]]\nname = "pirates"\nquery = \'"parti pirate"\'\n')
    assert "1 new entries" in workspace.run("fetch").stdout
    entries = json.loads(workspace.run("entries", "--format", "json").stdout)
    assert [e["title"] for e in entries] == ["Parti pirate 😀 \ufffd"]


@pytest.mark.parametrize("body", [
    # in UTF-16 these bytes are other characters: replacing them would shift the rest
    "\ufeff<rss>&#55357;&#56832;</rss>".encode("utf-16-le"),
    "<rss>&#55357;&#56832;</rss>".encode("utf-16-be"),
    "<rss>&#55357;&#56832;</rss>".encode("utf-32"),
    b"<rss>\x1b$B&#55357;\x1b(B</rss>",  # ISO-2022-JP
    b"<rss>~{&#55357;~}</rss>",  # HZ
    b"<rss><![CDATA[x &#55357;&#56832; y]]><!-- &#55357; --></rss>",  # text, not references
])
def test_what_is_not_a_reference_is_left_alone(body: bytes) -> None:
    assert repair_char_refs(body) is body


def test_a_utf16_feed_that_looks_like_references_keeps_its_entries() -> None:
    title = "⌦㔵㔳㬷⌦㘵㌸㬲"  # in UTF-16-LE, the bytes of "&#55357;&#56832;"
    assert title.encode("utf-16-le") == "&#55357;&#56832;".encode("ascii")
    body = ('\ufeff<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel>'
            f"<title>t</title><item><guid>1</guid><title>{title}</title></item>"
            "<item><guid>2</guid><title>b</title></item></channel></rss>").encode("utf-16-le")
    parsed = parse_feed("https://ex.fr/rss", body, {})
    assert isinstance(parsed, ParsedFeed)
    assert [e.title for e in parsed.entries] == [title, "b"]


def test_references_in_cdata_read_the_same_on_both_paths() -> None:
    """An item without guid nor link is keyed by its text: it must not depend on the path."""
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t'
            b"</title><item><title>a</title><description><![CDATA[x &#55357;&#56832; y]]>"
            b"</description></item></channel></rss>")
    fast = parse_feed("https://ex.fr/rss", body, {})
    full = parse_feed("https://ex.fr/rss", body, {}, fast=False)
    assert isinstance(fast, ParsedFeed) and isinstance(full, ParsedFeed)
    assert [(e.key, e.summary_text) for e in fast.entries] == [
        (e.key, e.summary_text) for e in full.entries]


def test_unclosed_comments_and_cdata_are_read_in_linear_time() -> None:
    """A regex with `.*?` up to the closer searched to the end from every opener: 80 KB of
    unclosed comments took 11 s, and the time grows with the square of the size. (Unclosed,
    they protect nothing: the reference is repaired.)"""
    code = ("from veille.char_refs import repair_char_refs\n"
            "body = b'<rss>&#55357;' + b'<!-- ' * 80000 + b'<![CDATA[ ' * 40000\n"
            "print(repair_char_refs(body)[:13])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "b'<rss>&#65533;'"


def test_references_between_and_after_text_spans_are_repaired() -> None:
    body = (b"<![CDATA[&#55357;]]>&#55357;<!-- &#55357; <![CDATA[ -->&#56832;"
            b"<![CDATA[ unclosed &#55357;")
    assert repair_char_refs(body) == (b"<![CDATA[&#55357;]]>&#65533;<!-- &#55357; <![CDATA[ -->"
                                      b"&#65533;<![CDATA[ unclosed &#65533;")
