"""Searches and social streams as feed URLs: what `veille feeds add --google-news …` builds.

Pure string building, each value percent-encoded in its place (a query with quotes, accents
or `&` must reach the service intact). The URLs are those the services publish:

    Google News   https://news.google.com/rss/search?q=Q&hl=fr&gl=FR&ceid=FR:fr
    Bing News     https://www.bing.com/news/search?q=Q&format=rss
    Mastodon      https://HOST/tags/TAG.rss
    Reddit        https://www.reddit.com/search.rss?q=Q&sort=new
    YouTube       https://www.youtube.com/feeds/videos.xml?channel_id=ID
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit


@dataclass(frozen=True)
class SearchFeed:
    """A feed URL built from a search, and the OPML title it gets (the query itself)."""

    url: str
    title: str


def _q(value: str) -> str:
    return quote(value, safe="")


def _query(value: str, what: str) -> str:
    query = " ".join(value.split())
    if not query:
        raise ValueError(f"{what}: the query is empty")
    return query


def google_news(query: str, lang: str = "fr", country: str = "FR") -> SearchFeed:
    """Google News search. `hl` is the interface language, `gl` the edition's country, and
    `ceid` repeats both as COUNTRY:lang (Google answers in English without it)."""
    q = _query(query, "--google-news")
    lang, country = lang.strip(), country.strip().upper()
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", lang):
        raise ValueError(f"--lang: expected a language code such as fr or en-US, got {lang!r}")
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"--country: expected a two-letter country code such as FR, "
                         f"got {country!r}")
    base = lang.split("-")[0]
    return SearchFeed(f"https://news.google.com/rss/search?q={_q(q)}&hl={_q(lang)}"
                      f"&gl={country}&ceid={country}:{_q(base)}", q)


def bing_news(query: str) -> SearchFeed:
    q = _query(query, "--bing-news")
    return SearchFeed(f"https://www.bing.com/news/search?q={_q(q)}&format=rss", q)


def reddit(query: str) -> SearchFeed:
    q = _query(query, "--reddit")
    return SearchFeed(f"https://www.reddit.com/search.rss?q={_q(q)}&sort=new", q)


def mastodon_tag(tag: str, instance: str) -> SearchFeed:
    """A hashtag's public timeline on one instance (each instance sees its own federation)."""
    name = tag.strip().lstrip("#")
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"--mastodon-tag: expected one hashtag such as partipirate, got {tag!r}")
    given = instance.strip()
    host = (urlsplit(given if "//" in given else f"//{given}").netloc or "").strip("/")
    if not host or not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?", host):
        raise ValueError(f"--instance: expected a host name such as mastodon.social, "
                         f"got {instance!r}")
    return SearchFeed(f"https://{host.lower()}/tags/{_q(name)}.rss", f"#{name} ({host.lower()})")


def youtube_channel(channel_id: str) -> SearchFeed:
    """A channel's uploads. Its title comes from the feed (the channel's name) when checked."""
    cid = channel_id.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{10,64}", cid):
        raise ValueError(f"--youtube-channel: expected a channel id such as "
                         f"UCxxxxxxxxxxxxxxxxxxxxxx, got {channel_id!r}")
    return SearchFeed(f"https://www.youtube.com/feeds/videos.xml?channel_id={cid}", "")
