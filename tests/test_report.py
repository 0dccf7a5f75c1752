"""`veille report`: the HTML file, the emailed report (aiosmtpd), the webhook JSON (a real HTTP
receiver), the numbers (pure), and French vs English."""

from __future__ import annotations

import email
import json
from datetime import UTC, date, datetime, timedelta
from email import policy
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from veille.report.data import (
    FeedHealth,
    Report,
    local_days,
    ranked_stories,
    share_of_voice,
    summarize,
)
from veille.report.render import render_html, render_text
from veille.store.reports import StoryCount, StoryHead

from .conftest import FeedServer, MailSink, Workspace, pubdate, rss

NOW = datetime.now(UTC).replace(microsecond=0)
WATCH = """
[[watchlist]]
name = "nestle"
description = "Nestlé et ses marques"
query = 'nestlé OR nespresso'

[[watchlist]]
name = "danone"
query = 'danone'
"""


def _items(prefix: str, titles: list[tuple[str, float]]) -> list[dict[str, str]]:
    return [{"title": t, "link": f"https://{prefix}.example/{i}?utm_source=x", "guid": f"{i}",
             "pubDate": pubdate(NOW - timedelta(days=d)),
             "description": f"{t}. Un article de {prefix}."}
            for i, (t, d) in enumerate(titles)]


def setup(ws: Workspace, server: FeedServer, extra: str = "") -> None:
    ws.write_config(extra)
    ws.write_watchlists(WATCH)
    a = server.serve("/ouest.xml", rss(_items("ouest", [
        ("Nestlé rappelle des pizzas Buitoni", 2), ("Danone vend une usine", 3),
        ("Nespresso ouvre une boutique à Rennes", 10), ("Nestlé : l’eau Perrier en question", 1),
    ]), title="Ouest-Éclair"))
    b = server.serve("/monde.xml", rss(_items("monde", [  # copies an hour after Ouest-Éclair
        ("Nestlé rappelle des pizzas Buitoni", 1.96), ("Nestlé : l’eau Perrier en question", 0.96),
        ("Danone et Lactalis : la guerre du yaourt", 5),
    ]), title="Le Monde"))
    ws.write_feeds([a, b])
    ws.run("fetch")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def external_resources(html: str) -> list[str]:
    """What a browser would fetch from elsewhere to show the page: scripts, stylesheets,
    images, fonts, frames, CSS url(); a plain link (<a href>) is not fetched."""
    parser = Tags()
    parser.feed(html)
    found = [f"<{tag} {k}={v}>" for tag, attrs in parser.tags for k, v in attrs.items()
             if v and k in ("src", "href", "xlink:href", "srcset", "data")
             and tag != "a" and not v.startswith(("#", "cid:"))]
    found += [tag for tag, _ in parser.tags if tag in ("script", "iframe", "object", "link")]
    return found + (["url("] if "url(" in html else []) + (["@import"] if "@import" in html
                                                         else [])


def test_report_file_is_self_contained_and_complete(feed_server, workspace):
    setup(workspace, feed_server)
    out = workspace.root / "rapport.html"
    result = workspace.run("report", "--since", "30d", "--out", str(out))
    assert "wrote" in result.stdout and "2 watchlists" in result.stdout
    html = out.read_text(encoding="utf-8")
    assert external_resources(html) == []
    assert html.count("<svg") == 3  # share of voice, and mentions per day for each list
    for text in ("Rapport veille", "Part de voix", "Mentions par jour", "Principales sources",
                 "Principaux sujets", "Santé des flux", "Ouest-Éclair", "Le Monde",
                 "Nestlé et ses marques", "Nestlé : l’eau Perrier en question"):
        assert text in html, text
    assert '<html lang="fr">' in html
    # the story both outlets carried comes first, with its 2 outlets; links lose utm_
    nestle = html[html.index('id="w1"'):html.index('id="w2"')]
    first_story = nestle[nestle.index("Principaux sujets"):]
    assert first_story.index("Nestlé rappelle des pizzas") < first_story.index("Nespresso")
    assert 'href="https://ouest.example/2"' in html and "utm_" not in html
    assert "71,4\u202f%" in html  # nestle: 5 of the 7 mentions, French typography


def test_report_only_the_watchlists_asked_and_english(feed_server, workspace):
    setup(workspace, feed_server, extra='language = "en"')
    out = workspace.root / "report.html"
    workspace.run("report", "--since", "7d", "--watchlist", "danone", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    for text in ("veille report", "Share of voice", "Mentions per day", "Top outlets",
                 "Top stories", "Feed health", "Danone vend une usine"):
        assert text in html, text
    assert "Nespresso" not in html and "Part de voix" not in html
    assert html.count("<svg") == 1  # one watchlist: no share-of-voice chart
    assert "100.0%" in html
    # dates in English
    assert NOW.astimezone(ZoneInfo("Europe/Paris")).strftime("%b") in html


def test_unknown_watchlist_and_missing_output_are_one_line_errors(feed_server, workspace):
    setup(workspace, feed_server)
    result = workspace.run("report", "--watchlist", "nope", "--out", "x.html", code=2)
    assert "no such watchlist" in result.stderr and "Traceback" not in result.stderr
    result = workspace.run("report", code=2)
    assert "--out FILE" in result.stderr


def smtp_config(port: int) -> str:
    return (f'[channels.equipe]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
            f'security = "none"\nfrom = "Veille <veille@example.org>"\n'
            f'to = ["com@example.org"]\n')


def test_report_by_email_has_png_charts_by_cid_beside_a_text_summary(
        feed_server, smtp_server: MailSink, workspace):
    setup(workspace, feed_server, extra=smtp_config(smtp_server.port)
          + '[report]\nchannels = ["equipe"]\n')
    result = workspace.run("report", "--since", "30d", "--send")
    assert "sent: report → equipe (250" in result.stdout
    [envelope] = smtp_server.messages
    msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert msg["Subject"].startswith("[veille] Rapport veille — nestle, danone — du ")
    assert msg.get_content_type() == "multipart/alternative"
    text, related = msg.get_payload()
    assert text.get_content_type() == "text/plain"
    summary = text.get_content()
    assert "== nestle — 3 sujets, 5 mentions (71,4\u202f%) ==" in summary
    assert "Nestlé rappelle des pizzas Buitoni — Ouest-Éclair (2 sources)" in summary
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert [i.get_content_type() for i in images] == ["image/png"] * 3
    html = html_part.get_content()
    assert "<svg" not in html  # mail clients do not show SVG
    for image in images:
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        png = image.get_content()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(png) < 60_000  # re-deflated: vl-convert's own output is 3 to 15 times this
    assert external_resources(html) == []


def test_report_to_a_webhook_is_the_numbers_as_json(feed_server, workspace):
    hook = feed_server.url("/hook")
    feed_server.routes["/hook"] = (204, {}, b"")
    setup(workspace, feed_server, extra=f'[channels.hook]\ntype = "webhook"\nurl = "{hook}"\n')
    assert "sent: report → hook (HTTP 204" in workspace.run(
        "report", "--since", "30d", "--send", "--channel", "hook").stdout
    [request] = feed_server.requests("/hook")
    body = json.loads(request.body)
    assert {"id", "kind", "generated_at", "since", "watchlists"} <= body.keys()
    assert body["kind"] == "report"
    nestle, danone = body["watchlists"]
    assert (nestle["name"], nestle["stories"], nestle["mentions"]) == ("nestle", 3, 5)
    assert (danone["name"], danone["stories"], danone["mentions"]) == ("danone", 2, 2)
    assert len(nestle["by_day"]) in (31, 32)
    assert sum(d["mentions"] for d in nestle["by_day"]) == 5
    assert [(o["feed"], o["mentions"]) for o in nestle["top_outlets"]] == [
        ("Ouest-Éclair", 3), ("Le Monde", 2)]


def test_a_failed_send_is_one_line_and_exit_1(feed_server, workspace, refused_port):
    setup(workspace, feed_server, extra=smtp_config(refused_port))
    result = workspace.run("report", "--send", "--channel", "equipe", code=1)
    assert "FAILED: report → equipe" in result.stderr and "Traceback" not in result.stderr


# --- the numbers, pure -------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


def _story(story: int, mentions: int, outlets: int, first: datetime, entry: int = 0,
           feed: str = "a") -> StoryCount:
    return StoryCount(story, mentions, outlets, first, entry or story, feed)


def test_mentions_are_counted_per_local_day():
    since = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 29/03 00:00 in Paris
    until = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    days = local_days(since, until, PARIS)
    assert days == [date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31)]
    hourly = [(datetime(2026, 3, 29, 22, tzinfo=UTC), 1),  # 30/03 00:00 in Paris (summer)
              (datetime(2026, 3, 29, 21, tzinfo=UTC), 4),  # 29/03 23:00
              (datetime(2026, 3, 31, 8, tzinfo=UTC), 2)]
    stories = [_story(1, 5, 2, datetime(2026, 3, 29, 21, 30, tzinfo=UTC), entry=7, feed="b"),
               _story(2, 2, 1, datetime(2026, 3, 31, 8, 0, tzinfo=UTC))]
    w = summarize("n", "", hourly, stories, [("a", None, 3), ("b", None, 4), ("c", None, 0)],
                  days, PARIS, {"a": "A", "b": "B"},
                  {7: StoryHead(7, "Premier", "https://x/1?utm_medium=m", "b")})
    assert [(d.day.day, d.mentions, d.stories) for d in w.by_day] == [(29, 4, 1), (30, 1, 0),
                                                                       (31, 2, 1)]
    assert (w.mentions, w.stories) == (7, 2)
    assert [(o.feed, o.mentions) for o in w.top_outlets] == [("B", 4), ("A", 3), ("c", 0)]
    # a story is shown by its first article, link cleaned; one without a head is untitled
    first, second = w.top_stories
    assert (first.title, first.link, first.feed, first.outlets) == ("Premier", "https://x/1",
                                                                     "B", 2)
    assert (second.title, second.link) == ("(sans titre)", None)


def test_an_aggregators_articles_count_for_the_outlets_it_credits():
    """Google News carries Le Figaro and Le Monde: the report's top outlets and a story's
    outlet name them, not "Google Actualités", and Le Figaro's own feed adds to its count."""
    t = datetime(2026, 3, 30, 8, tzinfo=UTC)
    days = local_days(t, t + timedelta(hours=1), PARIS)
    gnews, figaro = "https://news.google.com/rss", "https://www.lefigaro.fr/rss"
    w = summarize("n", "", [(t, 9)], [_story(1, 3, 2, t, entry=7, feed=gnews)],
                  [(gnews, "Le Figaro", 3), (gnews, "Le Monde", 4), (figaro, None, 2)],
                  days, PARIS, {gnews: "Google Actualités — Nestlé", figaro: "Le Figaro"},
                  {7: StoryHead(7, "Nestlé", "https://x/1", gnews, "Le Figaro")})
    assert [(o.feed, o.feed_url, o.mentions) for o in w.top_outlets] == [
        ("Le Figaro", gnews, 5), ("Le Monde", gnews, 4)]
    assert w.top_stories[0].feed == "Le Figaro"


@pytest.mark.parametrize("language, untitled", [("en", "(untitled)"), ("fr", "(sans titre)")])
def test_an_untitled_story_says_so_in_the_reports_language(language: str, untitled: str):
    since, until = datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)
    days = local_days(since, until, PARIS)
    w = summarize("n", "", [(datetime(2026, 3, 30, 8, tzinfo=UTC), 2)],
                  [_story(2, 2, 1, datetime(2026, 3, 30, 8, tzinfo=UTC))], [],
                  days, PARIS, {}, {})
    report = Report("r", until, since, until, "Europe/Paris", language, (w,),
                    FeedHealth(0, 0, ()))
    for rendered in (render_html(report, {}), render_text(report)):
        assert untitled in rendered
        assert ("sans titre" in rendered) == (language == "fr")


def test_stories_rank_by_outlets_then_articles_and_share_of_voice_sums_to_one():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    stories = [_story(1, 3, 1, t), _story(2, 2, 2, t), _story(3, 9, 1, t - timedelta(1)),
               _story(4, 3, 1, t - timedelta(hours=1))]
    assert [s.story for s in ranked_stories(stories)] == [2, 3, 4, 1]
    assert [s.story for s in ranked_stories(stories, top=2)] == [2, 3]
    days = [date(2026, 1, 1)]
    parts = share_of_voice([summarize(n, "", [(t, k)], [], [], days, PARIS, {}, {})
                            for n, k in (("x", 3), ("y", 1))])
    assert [p.share for p in parts] == [0.75, 0.25]
    assert share_of_voice([summarize("z", "", [], [], [], days, PARIS, {}, {})])[0].share == 0


def test_report_to_apprise_is_the_text_summary(feed_server, workspace):
    feed_server.routes["/notify"] = (200, {}, b"{}")
    url = feed_server.url("/notify").replace("http://", "json://")
    setup(workspace, feed_server, extra=f'[channels.chat]\ntype = "apprise"\nurls = ["{url}"]\n'
          '[report]\nchannels = ["chat"]\n')
    assert "sent: report → chat" in workspace.run("report", "--since", "7d", "--send").stdout
    [request] = feed_server.requests("/notify")
    payload = json.loads(request.body)
    assert payload["title"].startswith("[veille] Rapport veille — nestle, danone — du ")
    assert "== danone — 2 sujets, 2 mentions (33,3\u202f%) ==" in payload["message"]
    assert "Santé des flux : 2 / 2 flux en bonne santé" in payload["message"]


def test_the_report_fits_a_phone():
    """At 375 px the health table's long URLs and details wrap inside their cells, and the
    share-of-voice axis has three labels, not five that run into one another ("80 %100 %";
    seen on headless Chromium screenshots)."""
    from veille.report.charts import share_spec

    t = datetime(2026, 1, 1, tzinfo=UTC)
    parts = share_of_voice([summarize("x", "", [(t, 3)], [], [], [date(2026, 1, 1)], PARIS,
                                      {}, {})])
    report = Report("r", t, t, t, "Europe/Paris", "fr", tuple(parts), FeedHealth(0, 0, ()))
    axis = share_spec(report)["layer"][0]["encoding"]["x"]["axis"]
    assert axis["values"] == [0, 0.5, 1]
    assert "td.t { overflow-wrap: anywhere;" in render_html(report, {})


def test_feed_health_counts_the_feeds_of_the_opml_as_it_is_now(feed_server, workspace):
    """A feed removed from feeds.opml (by hand or `feeds remove`) since the last fetch is no
    longer counted, nor listed, in the report's feed health."""
    gone = feed_server.serve("/gone.xml", "Gone", status=410)
    setup(workspace, feed_server)
    feeds = [feed_server.url("/ouest.xml"), feed_server.url("/monde.xml")]
    workspace.write_feeds([*feeds, gone])
    workspace.run("fetch")
    workspace.write_feeds(feeds)
    out = workspace.root / "rapport.html"
    workspace.run("report", "--since", "30d", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert "2 / 2 flux en bonne santé" in html and gone not in html
