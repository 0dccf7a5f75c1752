"""`veille feeds add`: autodiscovery from a page, the check, search feeds as built URLs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from veille import search_feeds
from veille.opml import OpmlDocument

from .conftest import FeedServer, Workspace, rss

ATOM = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Commentaires</title><id>urn:c</id><updated>2026-11-24T08:00:00Z</updated></feed>")
JSON_FEED = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Fil JSON",
                        "items": []})


def page(links: str) -> str:
    return (f"<!doctype html><html><head><title>Le Site</title>{links}</head>"
            "<body><p>Accueil</p></body></html>")


def serve_page(server: FeedServer, path: str, links: str) -> str:
    return server.serve(path, page(links), headers={"Content-Type": "text/html; charset=utf-8"})


def sources(ws: Workspace):
    return OpmlDocument.load(ws.root / "feeds.opml").sources()


def test_page_advertising_feeds_adds_the_first_and_names_the_others(feed_server, workspace):
    feed_server.serve("/rss/une.xml", rss([], title="À la une"))
    feed_server.serve("/comments.atom", ATOM, headers={"Content-Type": "application/atom+xml"})
    feed_server.serve("/feed.json", JSON_FEED, headers={"Content-Type": "application/feed+json"})
    home = serve_page(feed_server, "/", (
        '<link rel="stylesheet" href="/s.css">'
        '<link rel="alternate" type="application/rss+xml" title="Une" href="rss/une.xml">'
        '<link rel="alternate" type="application/atom+xml" href="/comments.atom">'
        f'<link rel="alternate" type="application/feed+json" href="{feed_server.url("/feed.json")}">'))
    out = workspace.run("feeds", "add", home, "--folder", "presse").stdout
    first = feed_server.url("/rss/une.xml")  # the relative href resolved against the page
    assert f"added {first} to presse" in out
    assert feed_server.url("/comments.atom") in out and "(Commentaires)" in out
    assert feed_server.url("/feed.json") in out and "--all" in out
    [added] = sources(workspace)
    assert (added.url, added.folder, added.html_url) == (first, "presse", home)


def test_all_adds_every_advertised_feed_and_skips_broken_ones(feed_server, workspace):
    feed_server.serve("/a.xml", rss([]))
    feed_server.serve("/c.json", JSON_FEED, headers={"Content-Type": "application/feed+json"})
    home = serve_page(feed_server, "/site", (
        '<link rel="alternate" type="application/rss+xml" href="/a.xml">'
        '<link rel="alternate" type="application/rss+xml" href="/missing.xml">'
        '<link rel="alternate" type="application/feed+json" href="/c.json">'))
    out = workspace.run("feeds", "add", home, "--all").stdout
    assert [s.url for s in sources(workspace)] == [feed_server.url("/a.xml"),
                                                  feed_server.url("/c.json")]
    assert f"skipped {feed_server.url('/missing.xml')}: http: HTTP 404" in out


def test_common_paths_when_nothing_is_advertised(feed_server, workspace):
    feed_server.serve("/index.xml", rss([], title="Hugo"))
    home = serve_page(feed_server, "/blog/", "")
    out = workspace.run("feeds", "add", home).stdout
    assert f"added {feed_server.url('/index.xml')}" in out
    assert feed_server.requests("/feed") and feed_server.requests("/rss.xml")


def test_a_feed_url_is_checked_and_added_as_it_is(feed_server, workspace):
    url = feed_server.serve("/f.xml", rss([]))
    assert f"added {url}" in workspace.run("feeds", "add", url).stdout
    assert [(s.url, s.html_url) for s in sources(workspace)] == [(url, "")]
    # already there: said, and not even requested again
    assert "already in feeds.opml" in workspace.run("feeds", "add", url).stdout
    assert len(feed_server.requests("/f.xml")) == 1


@pytest.mark.parametrize("setup, message", [
    (lambda s: serve_page(s, "/p", ""), "no feed advertised on this page, and none at /feed"),
    (lambda s: s.url("/nowhere"), "cannot read it (http: HTTP 404 Not Found)"),
    (lambda s: serve_page(s, "/broken", '<link rel="alternate" type="application/rss+xml" '
                                        'href="/gone.xml">'),
     "the feeds this page advertises do not answer as feeds"),
])
def test_errors_are_one_line_and_nothing_is_written(feed_server, workspace, setup, message):
    url = setup(feed_server)
    result = workspace.run("feeds", "add", url, code=1)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"veille: {url}: ")
    assert sources(workspace) == []


def test_unreachable_is_one_line(workspace, refused_port):
    result = workspace.run("feeds", "add", f"http://127.0.0.1:{refused_port}/", code=1)
    assert "cannot read it (connect:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_check_adds_without_a_request(feed_server, workspace):
    url = feed_server.url("/not-yet.xml")
    assert f"added {url}" in workspace.run("feeds", "add", url, "--no-check").stdout
    assert feed_server.log == []


def test_allow_private_false_refuses_the_page_and_discovered_links(feed_server, workspace):
    home = serve_page(feed_server, "/", '<link rel="alternate" type="application/rss+xml" '
                                        'href="/f.xml">')
    workspace.write_config(fetch="allow_private = false")
    result = workspace.run("feeds", "add", home, code=1)
    assert "private_address" in result.stderr and "allow_private" in result.stderr
    assert feed_server.log == []


# --- searches as feeds ------------------------------------------------------------------------

@pytest.mark.parametrize("args, url, title", [
    (["--google-news", '"parti pirate" & Co'],
     "https://news.google.com/rss/search?q=%22parti%20pirate%22%20%26%20Co&hl=fr&gl=FR"
     "&ceid=FR:fr", '"parti pirate" & Co'),
    (["--google-news", "élection", "--lang", "en-US", "--country", "us"],
     "https://news.google.com/rss/search?q=%C3%A9lection&hl=en-US&gl=US&ceid=US:en",
     "élection"),
    (["--bing-news", "Nestlé eau"], "https://www.bing.com/news/search?q=Nestl%C3%A9%20eau"
                                    "&format=rss", "Nestlé eau"),
    (["--mastodon-tag", "#partipirate", "--instance", "https://mastodon.social/"],
     "https://mastodon.social/tags/partipirate.rss", "#partipirate (mastodon.social)"),
    (["--reddit", "parti pirate"], "https://www.reddit.com/search.rss?q=parti%20pirate&sort=new",
     "parti pirate"),
    (["--youtube-channel", "UC_x5XG1OV2P6uZZ5FSM9Ttw"],
     "https://www.youtube.com/feeds/videos.xml?channel_id=UC_x5XG1OV2P6uZZ5FSM9Ttw",
     "https://www.youtube.com/feeds/videos.xml?channel_id=UC_x5XG1OV2P6uZZ5FSM9Ttw"),
])
def test_search_feeds_are_written_to_the_opml_as_built(workspace, args, url, title):
    out = workspace.run("feeds", "add", *args, "--folder", "veille", "--no-check").stdout
    assert f"added {url} to veille" in out
    root = ET.parse(workspace.root / "feeds.opml").getroot()
    [outline] = [o for o in root.iter("outline") if o.get("xmlUrl")]
    assert outline.get("xmlUrl") == url and outline.get("text") == title


@pytest.mark.parametrize("args, message", [
    (["--mastodon-tag", "x"], "--mastodon-tag needs --instance"),
    (["--google-news", "x", "--reddit", "y"], "not several"),
    (["--google-news", "  "], "the query is empty"),
    (["--google-news", "x", "--country", "France"], "two-letter country code"),
    (["--youtube-channel", "a b"], "channel id"),
    (["--reddit", "x", "--lang", "en"], "--lang goes with --google-news"),
    (["https://x.example/", "--country", "BE"], "--country goes with --google-news"),
    (["--reddit", "x", "--instance", "mastodon.social"], "--instance goes with --mastodon-tag"),
    (["https://x.example/", "--reddit", "y"], "not both"),
    ([], "give a URL"),
])
def test_search_option_errors(workspace, args, message):
    result = workspace.run("feeds", "add", *args, code=2)
    assert message in result.stderr


def test_a_search_feed_is_checked_unless_no_check(feed_server, workspace, monkeypatch):
    """The check of a built search URL, with the service played by the test server."""
    monkeypatch.setattr(search_feeds, "reddit", lambda q: search_feeds.SearchFeed(
        feed_server.url("/search.rss"), q))
    result = workspace.run("feeds", "add", "--reddit", "parti pirate", code=1)
    assert "does not answer as a feed (http: HTTP 404" in result.stderr
    feed_server.serve("/search.rss", rss([], title="reddit: parti pirate"))
    workspace.run("feeds", "add", "--reddit", "parti pirate")
    assert [s.title for s in sources(workspace)] == ["parti pirate"]
