"""`language = "fr" | "en"`: digests, alerts and reports speak it, dates and numbers too; French
stays exactly what it was; the CLI speaks English either way."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, date, datetime
from email import policy
from zoneinfo import ZoneInfo

import pytest

from veille import i18n
from veille.digest import (
    Digest,
    DigestItem,
    WatchlistDigest,
    merge_stories,
    render_html,
    render_markdown,
    render_text,
    short_text,
    subject,
    webhook_payload,
)
from veille.models import StoredEntry, StoredMatch
from veille.spike_watch import alert_text
from veille.spikes import SpikeEvent
from veille.spikes import subject as spike_subject

from .conftest import MailSink, Workspace
from .test_deliver import setup, smtp_config

T = datetime(2026, 11, 26, 7, 5, tzinfo=UTC)


def digest(language: str = "fr") -> Digest:
    items = (DigestItem("Nestlé rappelle des pizzas", "https://ex.fr/1", "Ouest-Éclair", T, T,
                        ("nestlé",), "Le groupe Nestlé rappelle…", ("Le Monde", "Libé"),
                        (1, 2, 3), "https://o/f", 4, 3),
             DigestItem("", None, "Le Monde", T, T, ("nestlé",), "nestlé seul", (), (5,),
                        "https://m/f"))
    return Digest("abc", T, "Europe/Paris",
                  (WatchlistDigest("nestle", "Nestlé et marques", items, 4),), language)


def test_french_digest_text_layout():
    """Each item's lines stay indented under its title and a blank line parts the header from
    the first watchlist (the template's block tags once ate both)."""
    assert render_text(digest()) == (
        "veille · 26/11/2026 08:05 · nestle : 2 sujets, 4 mentions\n\n"
        "== nestle — 2 sujets, 4 mentions ==\nNestlé et marques\n\n"
        "* Nestlé rappelle des pizzas\n"
        "  Ouest-Éclair, 26/11/2026 08:05 (aussi dans : Le Monde, Libé — 3 mentions)\n"
        "  https://ex.fr/1\n  Le groupe *Nestlé* rappelle…\n  termes : nestlé\n\n"
        "* (sans titre)\n  Le Monde, 26/11/2026 08:05\n  *nestlé* seul\n  termes : nestlé\n\n")
    assert subject(digest()) == "[veille] nestle — 2 sujets, 4 mentions"


def test_english_digest():
    text = render_text(digest("en"))
    assert text.startswith("veille · Nov 26, 2026, 08:05 · nestle: 2 stories, 4 mentions\n")
    assert "(also in: Le Monde, Libé — 3 mentions)" in text and "terms: nestlé" in text
    assert "sujets" not in text and "aussi dans" not in text and "termes" not in text
    html = render_html(digest("en"))
    assert '<html lang="en">' in html and ">read</a>" in html and "also in" in html
    assert subject(digest("en")) == "[veille] nestle — 2 stories, 4 mentions"


def test_digest_by_email_in_english(feed_server, smtp_server: MailSink, workspace: Workspace):
    setup(workspace, feed_server, '"equipe"', 'language = "en"\n' + smtp_config(
        smtp_server.port))
    out = workspace.run("digest", "--send").stdout
    assert "sent: parti-pirate → equipe: 2 matches" in out  # the CLI: English either way
    [envelope] = smtp_server.messages
    msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert msg["Subject"] == "[veille] parti-pirate — 2 stories, 2 mentions"
    text, html = msg.get_payload()
    assert 'terms: "parti pirate"' in text.get_content()
    assert '<html lang="en">' in html.get_content()


EVENT = SpikeEvent("e1", "nestle", T, 7200.0, 38, 4.2, 9.05, T)


@pytest.mark.parametrize(("language", "subject_line", "first_line"), [
    ("fr", "[veille] ALERTE nestle — 38 articles en 2 h (9× l'habituel)",
     "nestle : 38 articles en 2 h, pour 4,2 d'habitude à cette heure-ci (9×)."),
    ("en", "[veille] ALERT nestle — 38 articles in 2 h (9× the usual)",
     "nestle: 38 articles in 2 h, against 4.2 usually at this time (9×)."),
])
def test_spike_alerts_speak_the_language(language, subject_line, first_line):
    assert spike_subject(EVENT, language) == subject_line
    item = digest().watchlists[0].items[0]
    text = alert_text(EVENT, [item], ZoneInfo("Europe/Paris"), language)
    lines = text.splitlines()
    assert lines[0] == first_line
    assert lines[1] == {"fr": "Début estimé : 26/11/2026 08:05.",
                        "en": "Estimated start: Nov 26, 2026, 08:05."}[language]
    assert ("aussi dans" if language == "fr" else "also in: Le Monde, Libé") in text


@pytest.mark.parametrize(("language", "expected"), [
    ("fr", ("26 nov. 2026", "26/11", "1\u202f234\u202f567", "42,5\u202f%", "3 sujets, 1 mention",
            "0 sujet, 0 mention")),
    ("en", ("Nov 26, 2026", "11/26", "1,234,567", "42.5%", "3 stories, 1 mention",
            "0 stories, 0 mentions")),
])
def test_dates_and_numbers_follow_the_language(language, expected):
    day = date(2026, 11, 26)
    assert (i18n.format_date(day, language), i18n.format_date(day, language, "short"),
            i18n.format_number(1234567, language), i18n.format_percent(0.425, language),
            i18n.counts(language, 3, 1), i18n.counts(language, 0, 0)) == expected


def test_feed_health_alerts_and_summary_in_english():
    from veille import health_en
    from veille.health import (
        HealthRecord,
        HealthState,
        assess,
        assess_all,
        build_summary,
        transition,
    )

    from .test_health import DAY, HOUR, NOW, SETTINGS, URL, every, failing, feed

    broken = transition(None, assess(failing(26, 7), None, NOW, SETTINGS))
    assert broken is not None
    message = health_en.event_message(broken, "Europe/Paris")
    assert message.subject == "[veille] HEALTH — Le Monde: broken for 26 h"
    assert message.text.startswith("The feed “Le Monde” has been broken for 26 h.")
    assert "Since: Mar 15, 2026, 08:00" in message.text and "What to do: open the" in \
        message.text
    assert message.payload["message"].startswith("broken for 26 h (7 failed polls): ")
    assert message.payload["state"] == "broken" and message.id == broken.id
    back = transition(HealthRecord(URL, HealthState.BROKEN, NOW - 3 * DAY, NOW),
                      assess(feed(), None, NOW, SETTINGS))
    assert back is not None
    assert health_en.event_message(back, "UTC").text.startswith(
        "The feed “Le Monde” is back to normal: it was broken since Mar 13, 2026, 09:00.")
    feeds = [failing(30, 4, url="https://b", title="Bravo"), feed(url="https://d",
                                                                  title="Delta")]
    summary = build_summary(assess_all(feeds, {"https://d": every(DAY, silent=9 * DAY)}, {},
                                       NOW, SETTINGS), NOW)
    weekly = health_en.summary_message(summary, "Europe/Paris")
    assert weekly.subject == "[veille] HEALTH — weekly summary: 2 feeds to look at"
    assert weekly.text.startswith("Feed health on Mar 16, 2026, 10:00: 2 of 2 feeds need a look.")
    assert weekly.text.index("BROKEN (1)") < weekly.text.index("SILENT (1)")
    assert "SANTÉ" not in weekly.text + weekly.subject and HOUR


def test_an_untitled_item_says_so_in_the_readers_language_everywhere():
    """The item keeps an empty title (the webhook's JSON does not depend on the language);
    each text a person reads says "(untitled)" or "(sans titre)"."""
    entry = StoredEntry(1, "https://m/f", "Le Monde", "k", "", "https://ex.fr/9", None, T, None,
                        "nestlé seul", "", "", "", (), "fr", T, None, 0)
    [untitled] = merge_stories([StoredMatch(9, "nestle", ("nestlé",), "nestlé seul", T, False,
                                            entry)])
    assert untitled.title == ""
    made = Digest("u", T, "Europe/Paris", (WatchlistDigest("nestle", "", (untitled,), 1),), "en")
    event = SpikeEvent("e1", "nestle", T, 7200.0, 1, 0.25, 4.0, T)
    english = (render_html(made), render_text(made), render_markdown(made), short_text(made),
               alert_text(event, [untitled], ZoneInfo("UTC"), "en"))
    for rendered in english:
        assert "(untitled)" in rendered and "sans titre" not in rendered
    assert webhook_payload(made)["matches"][0]["title"] == ""
    french = replace(made, language="fr")
    for rendered in (render_html(french), render_text(french), short_text(french),
                     alert_text(event, [untitled], ZoneInfo("UTC"), "fr")):
        assert "(sans titre)" in rendered


def test_spike_alert_credits_the_outlet_and_counts_in_french():
    """One article is singular, the usual rate is written the French way, and an aggregator's
    item names the publisher it credits, as digests do."""
    event = SpikeEvent("e1", "nestle", T, 7200.0, 1, 0.25, 4.0, T)
    item = DigestItem("Nestlé rappelle", "https://ex.fr/1", "Google Actualités — Nestlé", T, T,
                      ("nestlé",), "", outlet="Le Figaro")
    text = alert_text(event, [item], ZoneInfo("Europe/Paris"), "fr")
    assert text.startswith("nestle : 1 article en 2 h, pour 0,25 d'habitude")
    assert "• Nestlé rappelle — Le Figaro (via Google Actualités — Nestlé)" in text
    assert spike_subject(event) == "[veille] ALERTE nestle — 1 article en 2 h (4× l'habituel)"


def test_a_chat_channels_test_message_is_not_empty():
    test = Digest("t", T, "UTC", (WatchlistDigest("test", "Test message: the channel works.", (),
                                                  0),), "en")
    assert short_text(test) == "Test message: the channel works."
    assert subject(test) == "[veille] test message"


def test_a_link_that_is_not_http_reaches_no_format():
    """HTML and Markdown dropped a `javascript:` link; JSON, webhooks, chat and the text part
    carried it, where a client could make it clickable."""
    entry = StoredEntry(1, "https://m/f", "Le Monde", "k", "Nestlé", "javascript:alert(1)",
                        None, T, None, "nestlé", "", "", "", (), "fr", T, None, 0)
    [item] = merge_stories([StoredMatch(9, "nestle", ("nestlé",), "nestlé", T, False, entry)])
    made = Digest("j", T, "UTC", (WatchlistDigest("nestle", "", (item,), 1),), "fr")
    assert item.link is None and webhook_payload(made)["matches"][0]["link"] is None
    for rendered in (render_text(made), render_markdown(made), render_html(made),
                     short_text(made)):
        assert "javascript" not in rendered


@pytest.mark.parametrize("language, count, tail", [
    ("fr", 21, "… et 1 autre"), ("fr", 23, "… et 3 autres"), ("en", 21, "… and 1 more")])
def test_chat_text_says_how_many_more(language, count, tail):
    items = tuple(DigestItem(f"Nestlé {i}", f"https://ex.fr/{i}", "Le Monde", T, T,
                             ("nestlé",), "") for i in range(count))
    made = Digest("m", T, "UTC", (WatchlistDigest("nestle", "", items, count),), language)
    assert short_text(made).endswith(tail)


def test_markdown_shows_feed_text_as_written():
    """A title's *emphasis*, <tag>, [brackets] or `code`, a snippet that starts like a list,
    and a link with a space or > in it: Markdown shows them as text, not as formatting, raw
    HTML or a broken link (rendered here by Python-Markdown, which Apprise brings)."""
    import markdown

    item = DigestItem("Nestlé *rappelle* _pizzas_ <script>x</script> [a] `c` & co",
                      "https://ex.org/a b>c", "Le *Monde*_", T, T, ("nestlé",),
                      "1. Nestlé # rappelle <b>x</b> ___ et ** seul")
    made = Digest("m", T, "UTC", (WatchlistDigest("n", "", (item,), 1),), "fr")
    html = markdown.markdown(render_markdown(made))
    for raw in ("<script>", "<b>", "<em>rappelle", "<em>pizzas", "<code>", "<ol>", "<h1>",
                "klzzwxh"):
        assert raw not in html, html
    assert "*rappelle* _pizzas_ &lt;script&gt;x&lt;/script&gt; [a] `c` &amp; co" in html
    assert 'href="https://ex.org/a%20b%3Ec"' in html
    assert "<strong>Nestlé</strong>" in html and "Le *Monde*_" in html
