"""Feeds that go blind: assess and transition tables, the French alerts and weekly summary,
"not a feed" detection from the parser to `feeds doctor`, [health] settings, migration m005."""

from __future__ import annotations

import asyncio
import json
import pickle
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from veille.config import FetchSettings, HealthSettings, settings_from_toml
from veille.errors import ConfigError
from veille.health import (
    Assessment,
    EntryHistory,
    HealthEvent,
    HealthRecord,
    assess,
    assess_all,
    build_summary,
    event_message,
    event_subject,
    event_text,
    stale_after,
    summary_message,
    transition,
    usual_gap,
    webhook_body,
)
from veille.models import FeedSource, FeedState, FetchResult, ParsedEntry
from veille.outcomes import ErrorKind, FetchStatus, HealthState
from veille.parse import NotAFeed, ParseFailure, parse_feed
from veille.parser_pool import ParserPool
from veille.schedule import after_fetch
from veille.store import Store, migrations

from .conftest import FeedServer, Workspace, pubdate, rss

NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
URL = "https://www.lemonde.fr/rss/une.xml"
SETTINGS = HealthSettings()
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def feed(**changes: object) -> FeedState:
    base = FeedState(url=URL, title="Le Monde", last_success=NOW - HOUR, entry_count=30)
    return replace(base, **changes)  # type: ignore[arg-type]


def failing(hours: float, failures: int, **changes: object) -> FeedState:
    return feed(failures=failures, error_since=NOW - timedelta(hours=hours),
                error_kind=ErrorKind.HTTP, error_message="HTTP 500 Internal Server Error",
                **changes)


def every(gap: timedelta, count: int = 30, silent: timedelta = timedelta(0)) -> EntryHistory:
    """`count` entries `gap` apart, the latest first seen `silent` ago."""
    last = NOW - silent
    return EntryHistory(tuple(last - i * gap for i in range(count)), last)


def state(f: FeedState, history: EntryHistory | None = None,
          previous: HealthRecord | None = None) -> HealthState:
    return assess(f, history, NOW, SETTINGS, previous).state


# --- assess -----------------------------------------------------------------------------------

@pytest.mark.parametrize("hours, failures, expected", [
    (26, 3, HealthState.BROKEN),
    (24, 3, HealthState.BROKEN),
    (23.9, 7, HealthState.OK),  # many quick failures: not yet a day
    (72, 2, HealthState.OK),  # a long time, but only two polls
    (0, 0, HealthState.OK),
])
def test_broken_needs_both_the_duration_and_three_failed_polls(hours, failures, expected):
    f = failing(hours, failures) if failures else feed()
    a = assess(f, None, NOW, SETTINGS)
    assert a.state == expected
    if expected == HealthState.BROKEN:
        assert a.since == f.error_since and a.error == "HTTP 500 Internal Server Error"
        assert a.message.startswith(f"en panne depuis {int(hours)} h ({failures} essais")


def test_broken_after_is_a_setting():
    assert assess(failing(13, 3), None, NOW, replace(SETTINGS, broken_after=12 * 3600)
                  ).state == HealthState.BROKEN


@pytest.mark.parametrize("gap, silent, expected", [
    (DAY, 2 * DAY, HealthState.OK),  # daily: 3 days (3 x 1 day) not reached
    (DAY, 4 * DAY, HealthState.STALE),
    (HOUR, 2 * DAY, HealthState.OK),  # hourly: 3 x 1 h, but never under 3 days
    (HOUR, 3.5 * DAY, HealthState.STALE),
    (7 * DAY, 15 * DAY, HealthState.OK),  # weekly: stale after 3 weeks
    (7 * DAY, 22 * DAY, HealthState.STALE),
])
def test_stale_is_learned_from_the_feeds_rhythm_and_never_under_three_days(gap, silent,
                                                                          expected):
    history = every(gap, silent=silent)
    a = assess(feed(), history, NOW, SETTINGS)
    assert a.state == expected
    assert a.usual_gap == gap.total_seconds()
    if expected == HealthState.STALE:
        assert a.since == history.last_seen
        assert a.message.startswith(f"aucun nouvel article depuis {silent.days} jours")


def test_the_usual_gap_is_weighted_by_time_so_bursts_do_not_make_a_feed_stale():
    # ten posts a minute apart, once a month: the median gap is a minute, the feed is fine
    dates = [NOW - 10 * DAY - k * 30 * DAY - i * timedelta(minutes=1)
             for k in range(3) for i in range(10)]
    history = EntryHistory(tuple(sorted(dates, reverse=True)), NOW - 10 * DAY)
    assert usual_gap(history) == pytest.approx(30 * 86400 - 9 * 60)
    assert state(feed(), history) == HealthState.OK
    assert stale_after(history, SETTINGS) >= 89 * 86400


def test_a_weekday_feed_is_not_stale_over_a_long_weekend():
    # one post each weekday at 9:00 for six weeks; silent from Friday to a Tuesday holiday
    friday = datetime(2026, 3, 13, 9, 0, tzinfo=UTC)
    dates = tuple(d for d in (friday - i * DAY for i in range(42)) if d.weekday() < 5)
    history = EntryHistory(dates, friday)
    assert usual_gap(history) == 3 * 86400
    tuesday = datetime(2026, 3, 17, 10, 0, tzinfo=UTC)
    assert assess(feed(), history, tuesday, SETTINGS).state == HealthState.OK
    assert assess(feed(), history, friday + 10 * DAY, SETTINGS).state == HealthState.STALE


def test_entries_first_seen_together_teach_nothing():
    undated = EntryHistory((NOW - 9 * DAY,) * 30, NOW - 9 * DAY)  # one first fetch, no dates
    assert usual_gap(undated) is None and state(feed(), undated) == HealthState.OK


def test_a_feed_with_too_few_entries_has_no_known_rhythm():
    assert usual_gap(every(DAY, count=3)) is None
    assert state(feed(), every(DAY, count=3, silent=300 * DAY)) == HealthState.OK
    assert state(feed(), every(DAY, count=4, silent=300 * DAY)) == HealthState.STALE


def test_a_stale_feed_whose_entries_were_pruned_stays_stale():
    record = HealthRecord(URL, HealthState.STALE, NOW - 100 * DAY, NOW - 90 * DAY)
    a = assess(feed(entry_count=0), None, NOW, SETTINGS, record)
    assert a.state == HealthState.STALE and a.since == NOW - 100 * DAY
    assert state(feed(entry_count=0)) == HealthState.OK  # no record: nothing to go on


def test_gone_moved_and_their_precedence():
    gone = feed(gone=True, failures=1, error_since=NOW - HOUR, error_kind=ErrorKind.GONE,
                error_message="410 Gone: the feed was removed")
    a = assess(gone, None, NOW, SETTINGS)
    assert (a.state, a.since) == (HealthState.GONE, NOW - HOUR)
    moved = feed(moved_to="https://www.lemonde.fr/une/rss.xml")
    a = assess(moved, None, NOW, SETTINGS)
    assert (a.state, a.since, a.moved_to) == (HealthState.MOVED, NOW, moved.moved_to)
    # the start of a moved state is the daemon's memory: the feed does not record it
    record = HealthRecord(URL, HealthState.MOVED, NOW - 5 * DAY, NOW - 5 * DAY)
    assert assess(moved, None, NOW, SETTINGS, record).since == NOW - 5 * DAY
    assert state(replace(gone, moved_to=moved.moved_to)) == HealthState.GONE
    assert state(failing(30, 5, moved_to=moved.moved_to)) == HealthState.BROKEN
    assert state(moved, every(DAY, silent=10 * DAY)) == HealthState.MOVED


def test_a_gone_feeds_alert_promises_no_recovery():
    """veille stops polling a feed that answered 410: its alert must not announce a "back to
    normal" message that can never come."""
    from veille import health_en

    gone = feed(gone=True, failures=1, error_since=NOW - HOUR, error_kind=ErrorKind.GONE,
                error_message="410 Gone")
    event = transition(None, assess(gone, None, NOW, SETTINGS))
    assert event is not None
    text = event_text(event, "UTC")
    assert "veille ne l'interroge plus" in text and "rétabli" not in text
    english = health_en.event_message(event, "UTC").text
    assert "no longer polls it" in english and "when it is back" not in english
    broken = transition(None, assess(failing(26, 7), None, NOW, SETTINGS))
    assert broken is not None and "quand il sera rétabli" in event_text(broken, "UTC")


def test_not_a_feed_that_advertises_a_feed_is_said_at_once():
    page = NotAFeed(["https://www.lemonde.fr/rss/une.xml"])
    f = feed(url="https://www.lemonde.fr/", failures=1, error_since=NOW - HOUR,
             error_kind=ErrorKind.NOT_A_FEED, error_message=str(page))
    a = assess(f, None, NOW, SETTINGS)
    assert a.state == HealthState.NOT_A_FEED and a.since == NOW - HOUR
    assert a.advertised == ("https://www.lemonde.fr/rss/une.xml",)
    assert "elle annonce https://www.lemonde.fr/rss/une.xml" in a.message


def test_not_a_feed_that_advertises_nothing_waits_like_a_broken_feed():
    message = str(NotAFeed())
    young = feed(failures=1, error_since=NOW - HOUR, error_kind=ErrorKind.NOT_A_FEED,
                 error_message=message)
    assert state(young) == HealthState.OK  # a maintenance page, perhaps
    old = replace(young, failures=4, error_since=NOW - 30 * HOUR)
    a = assess(old, None, NOW, SETTINGS)
    assert a.state == HealthState.NOT_A_FEED and a.advertised == ()


def test_recovery_is_ok_and_removed_feeds_are_not_assessed():
    assert state(feed(), every(DAY, silent=HOUR)) == HealthState.OK
    found = assess_all([feed(), feed(url="https://old", in_opml=False)], {}, {}, NOW, SETTINGS)
    assert [a.feed_url for a in found] == [URL]


# --- transition -------------------------------------------------------------------------------

def assessed(s: HealthState, since: datetime | None = NOW - 26 * HOUR, **more: object
             ) -> Assessment:
    return replace(Assessment(URL, "Le Monde", s, since, "m", NOW), **more)  # type: ignore[arg-type]


@pytest.mark.parametrize("previous, now_state, expected_previous", [
    (None, HealthState.OK, None),
    (None, HealthState.BROKEN, HealthState.OK),
    (HealthState.OK, HealthState.STALE, HealthState.OK),
    (HealthState.BROKEN, HealthState.BROKEN, None),  # it lasts: no new alert
    (HealthState.BROKEN, HealthState.OK, HealthState.BROKEN),  # recovery
    (HealthState.BROKEN, HealthState.GONE, HealthState.BROKEN),
    ("dns_over_pigeon", HealthState.OK, "dns_over_pigeon"),  # a newer version's state
])
def test_one_event_on_entering_a_state_and_one_on_recovery(previous, now_state,
                                                           expected_previous):
    event = transition(previous, assessed(now_state))
    if expected_previous is None:
        assert event is None
    else:
        assert event is not None and event.previous == expected_previous
        assert event.recovered == (now_state == HealthState.OK)


def test_transition_takes_the_stored_record():
    record = HealthRecord(URL, HealthState.BROKEN, NOW - 3 * DAY, NOW - 2 * DAY)
    assert transition(record, assessed(HealthState.BROKEN)) is None
    event = transition(record, assessed(HealthState.OK, since=None))
    assert event is not None and event.previous_since == NOW - 3 * DAY and event.since == NOW


def test_event_ids_are_stable_per_transition():
    a = assessed(HealthState.BROKEN)
    first = HealthEvent(a, HealthState.OK)
    assert HealthEvent(replace(a, at=NOW + HOUR, message="x"), HealthState.OK).id == first.id
    assert HealthEvent(replace(a, since=NOW), HealthState.OK).id != first.id
    assert HealthEvent(replace(a, state=HealthState.GONE), HealthState.OK).id != first.id
    moved = assessed(HealthState.MOVED, moved_to="https://b")
    assert HealthEvent(moved, HealthState.OK).id != HealthEvent(
        replace(moved, moved_to="https://c"), HealthState.OK).id


# --- what users read --------------------------------------------------------------------------

def test_webhook_body():
    a = assess(failing(26, 7), None, NOW, SETTINGS)
    event = transition(None, a)
    assert event is not None
    body = webhook_body(event)
    assert set(body) == {"id", "kind", "generated_at", "feed", "feed_url", "state", "previous",
                         "since", "message", "moved_to", "advertised"}
    assert body["kind"] == "health" and body["state"] == "broken" and body["previous"] == "ok"
    assert body["id"] == event.id and body["feed"] == "Le Monde" and body["feed_url"] == URL
    assert body["since"] == (NOW - 26 * HOUR).isoformat()
    assert body["generated_at"] == NOW.isoformat()
    json.dumps(body)


def test_french_subjects():
    broken = transition(None, assess(failing(26, 7), None, NOW, SETTINGS))
    assert broken is not None
    assert event_subject(broken) == "[veille] SANTÉ — Le Monde : en panne depuis 26 h"
    back = transition(HealthRecord(URL, HealthState.BROKEN, NOW - 26 * HOUR, NOW),
                      assess(feed(), None, NOW, SETTINGS))
    assert back is not None and event_subject(back) == "[veille] SANTÉ — Le Monde : rétabli"
    stale = transition(None, assess(feed(), every(DAY, silent=12 * DAY), NOW, SETTINGS))
    assert stale is not None
    assert event_subject(stale) == "[veille] SANTÉ — Le Monde : muet depuis 12 jours"


def test_alert_text_says_what_to_do():
    page = NotAFeed(["https://www.lemonde.fr/rss/une.xml"])
    f = feed(url="https://www.lemonde.fr/", failures=1, error_since=NOW - HOUR,
             error_kind=ErrorKind.NOT_A_FEED, error_message=str(page))
    event = transition(None, assess(f, None, NOW, SETTINGS))
    assert event is not None
    text = event_text(event, "Europe/Paris")
    assert text.startswith("Le flux « Le Monde » mène à une page web, pas à un flux.")
    assert "Depuis : 16/03/2026 09:00" in text  # 08:00 UTC in Paris
    assert ("Que faire : cette adresse est celle d'une page, pas de son flux. Remplacez-la par "
            "le flux qu'elle annonce : veille feeds move https://www.lemonde.fr/ "
            "https://www.lemonde.fr/rss/une.xml") in text
    message = event_message(event, "Europe/Paris")
    assert (message.id, message.kind, message.generated_at) == (event.id, "health", NOW)
    assert message.payload == webhook_body(event) and message.text == text
    back = transition(HealthRecord(URL, HealthState.BROKEN, NOW - 3 * DAY, NOW),
                      assess(feed(), None, NOW, SETTINGS))
    assert back is not None
    assert event_text(back, "UTC").startswith(
        "Le flux « Le Monde » est rétabli : il était en panne depuis le 13/03/2026 09:00.")


def test_weekly_summary_lists_unhealthy_feeds_worst_first():
    feeds = [
        feed(url="https://a", title="Alpha", moved_to="https://a2"),
        failing(30, 4, url="https://b", title="Bravo"),
        feed(url="https://c", title="Charlie"),
        feed(url="https://d", title="Delta"),
    ]
    histories = {"https://d": every(DAY, silent=9 * DAY), "https://c": every(DAY)}
    summary = build_summary(assess_all(feeds, histories, {}, NOW, SETTINGS), NOW)
    assert summary.total == 4
    assert [(a.feed, a.state) for a in summary.unhealthy] == [
        ("Bravo", HealthState.BROKEN), ("Delta", HealthState.STALE), ("Alpha", HealthState.MOVED)]
    message = summary_message(summary, "Europe/Paris")
    assert message.subject == "[veille] SANTÉ — bilan de la semaine : 3 flux à surveiller"
    assert message.kind == "health_summary" and message.payload["total"] == 4
    assert [f["state"] for f in message.payload["feeds"]] == ["broken", "stale", "moved"]
    text = message.text
    assert text.startswith("Bilan de santé des flux au 16/03/2026 10:00 : 3 flux sur 4 sont "
                           "à surveiller.")
    assert text.index("EN PANNE (1)") < text.index("MUETS (1)") < text.index("DÉPLACÉS (1)")
    assert "veille feeds move https://a https://a2" in text
    # "en panne depuis 30 h" is followed by the start's date, not by "depuis" again
    assert "• Bravo — en panne depuis 30 h (début : " in text and "(depuis le" not in text
    # one summary a week: built again the same week, it has the same id
    later = build_summary([], NOW + 2 * DAY)
    assert later.id == summary.id and later.empty
    assert build_summary([], NOW + 7 * DAY).id != summary.id


# --- not a feed: the parser, across processes, into the schedule --------------------------------

PAGE = b"""<!DOCTYPE html><html lang="fr"><head><title>Le site</title>
<link rel="stylesheet" href="/a.css">
<link rel="alternate" type="application/rss+xml" title="RSS" href="/rss/une.xml">
<link rel="alternate" type="application/atom+xml" href="https://autre.example/atom">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
<link rel="alternate" hreflang="en" href="/en/">
</head><body><link rel="alternate" type="application/rss+xml" href="/not-in-head"></body></html>"""


def test_an_html_page_is_not_a_feed_and_names_the_feeds_it_advertises():
    result = parse_feed("https://site.example/page/", PAGE, {"content-type": "text/html"})
    assert isinstance(result, NotAFeed) and isinstance(result, ParseFailure)
    assert result.advertised == ("https://site.example/rss/une.xml", "https://autre.example/atom")
    assert str(result) == ("HTML page, not a feed; it advertises https://site.example/rss/une.xml, "
                           "https://autre.example/atom")
    assert NotAFeed.recognize(str(result)) == result
    assert NotAFeed.recognize(str(result)).advertised == result.advertised  # type: ignore[union-attr]
    assert NotAFeed.recognize("not a feed (text/plain)") is None


def test_html_is_recognised_by_its_root_and_base_href_is_honoured():
    page = b"\xef\xbb\xbf<?xml version='1.0'?><!-- x --><html><head><base href='/blog/'>" \
           b"<link rel='alternate' type='application/feed+json' href='feed.json'></head></html>"
    result = parse_feed("https://s.example/a/b", page, {"content-type": "application/xml"})
    assert isinstance(result, NotAFeed) and result.advertised == ("https://s.example/blog/feed.json",)
    nothing = parse_feed("https://s.example/", b"<html><body>Bonjour</body></html>", {})
    assert isinstance(nothing, NotAFeed) and nothing.advertised == ()
    assert "advertises no feed" in nothing


def test_a_feed_served_as_text_html_is_still_a_feed():
    body = rss([{"title": "Un", "guid": "1", "link": "https://x/1"}])
    parsed = parse_feed("https://x/", body.encode(), {"content-type": "text/html"})
    assert not isinstance(parsed, ParseFailure) and len(parsed.entries) == 1


def test_parse_failures_pickle_across_processes():
    page = NotAFeed(["https://x.example/rss", "https://x.example/a b"])
    back = pickle.loads(pickle.dumps(page))
    assert type(back) is NotAFeed and back == page
    assert back.advertised == ("https://x.example/rss", "https://x.example/a%20b")
    plain = pickle.loads(pickle.dumps(ParseFailure("not a feed (text/plain)")))
    assert type(plain) is ParseFailure and plain == "not a feed (text/plain)"

    async def parse_in_a_worker() -> object:
        pool = ParserPool(workers=1, timeout=60)
        try:
            return await pool.parse("https://site.example/", PAGE, {"content-type": "text/html"})
        finally:
            pool.close()

    result = asyncio.run(parse_in_a_worker())
    assert isinstance(result, NotAFeed)
    assert result.advertised == ("https://site.example/rss/une.xml", "https://autre.example/atom")


def test_after_fetch_records_not_a_feed_from_the_message_alone():
    result = FetchResult(URL, FetchStatus.OK, http_status=200, body=PAGE)
    message = str(NotAFeed(["https://x.example/rss"]))  # what the pipeline hands over
    state_ = after_fetch(feed(), result, NOW, FetchSettings(), random.Random(1),
                         parse_error=message)
    assert state_.error_kind is ErrorKind.NOT_A_FEED and state_.error_message == message
    assert state_.failures == 1 and state_.error_since == NOW
    other = after_fetch(feed(), result, NOW, FetchSettings(), random.Random(1),
                        parse_error="not a feed (text/plain)")
    assert other.error_kind is ErrorKind.PARSE


# --- end to end: fetch, then `feeds doctor` ---------------------------------------------------

def test_doctor_shows_a_page_and_the_feed_it_advertises(feed_server: FeedServer,
                                                        workspace: Workspace):
    page = feed_server.serve("/site/", PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
    workspace.write_feeds([page])
    workspace.run("fetch")
    result = workspace.run("feeds", "doctor", "--format", "json", code=None)
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)
    assert [(f["url"], f["state"]) for f in found] == [(page, "not_a_feed")]
    advertised = feed_server.url("/rss/une.xml")
    assert found[0]["advertised"] == [advertised, "https://autre.example/atom"]
    assert found[0]["opml_url"] == advertised and found[0]["error_kind"] == "not_a_feed"
    assert f"veille feeds move {page} {advertised}" in found[0]["advice"]
    text = workspace.run("feeds", "doctor", code=1).stdout
    assert "not_a_feed" in text and f"put in the OPML: {advertised}" in text
    assert "1 of 1 feeds unhealthy" in text


def test_doctor_suggests_feeds_move_for_a_moved_feed(feed_server: FeedServer,
                                                     workspace: Workspace):
    new = feed_server.serve("/new.xml", rss([{"title": "Un", "guid": "1"}]))
    feed_server.routes["/old.xml"] = (301, {"Location": new}, b"")
    old = feed_server.url("/old.xml")
    workspace.write_feeds([old])
    workspace.run("fetch")
    found = json.loads(workspace.run("feeds", "doctor", "--format", "json", code=1).stdout)
    assert [(f["state"], f["moved_to"], f["opml_url"]) for f in found] == [("moved", new, new)]
    assert f"veille feeds move {old} {new}" in found[0]["advice"]


def test_doctor_exits_0_when_every_feed_is_healthy(feed_server: FeedServer,
                                                   workspace: Workspace):
    now = datetime.now(UTC)
    url = feed_server.serve("/f.xml", rss([
        {"title": f"n{i}", "guid": f"g{i}", "pubDate": pubdate(now - i * HOUR)}
        for i in range(10)]))
    workspace.write_feeds([url])
    workspace.run("fetch")
    assert workspace.run("feeds", "doctor", "--format", "json").stdout.strip() == "[]"
    assert workspace.run("feeds", "doctor").stdout.strip() == "the feed is healthy"


# --- [health] settings ------------------------------------------------------------------------

def test_health_settings_and_their_channels(tmp_path: Path):
    file = tmp_path / "veille.toml"
    s = settings_from_toml({}, file, {})
    assert s.health == HealthSettings() and s.health.targets == ("console",)
    assert (s.health.broken_after, s.health.stale_after_min) == (86400, 3 * 86400)
    s = settings_from_toml({"health": {"broken_after": "12h", "stale_after_min": "5d",
                                       "channels": ["equipe"]},
                            "channels": {"equipe": {"type": "console"}}}, file, {})
    assert (s.health.broken_after, s.health.stale_after_min) == (12 * 3600, 5 * 86400)
    assert s.health.targets == ("equipe",)
    with pytest.raises(ConfigError, match=r'health.channels: no channel named \'equipes\' in '
                                          r'the configuration \(did you mean "equipe"\?\)'):
        settings_from_toml({"health": {"channels": ["equipes"]},
                            "channels": {"equipe": {"type": "console"}}}, file, {})
    with pytest.raises(ConfigError, match='health.broken_afer: unknown key '
                                          r'\(did you mean "broken_after"\?\)'):
        settings_from_toml({"health": {"broken_afer": "1h"}}, file, {})
    with pytest.raises(ConfigError, match="health.stale_after_min: expected a duration above"):
        settings_from_toml({"health": {"stale_after_min": "0s"}}, file, {})


# --- the store: migration, health states, entry histories --------------------------------------

def entry(key: str, published: datetime) -> ParsedEntry:
    return ParsedEntry(key=key, guid=key, title=key, link=None, author=None,
                       published=published, updated=None, summary_html="", summary_text="",
                       content_html="", content_text="")


def test_migration_from_an_m003_database(tmp_path: Path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    names = [m.name for m in migrations.pending(db)]
    migrations.apply(db, stop_before=names[names.index("m003_hash_versions") + 1])
    db.execute("INSERT INTO feeds (url) VALUES (?)", [URL])
    db.execute("INSERT INTO entries (feed_url, key, published, content_hash, first_seen) "
               "VALUES (?, 'k', '2026-03-01T00:00:00.000000Z', 'h', "
               "'2026-03-01T01:00:00.000000Z')", [URL])
    db.conn.commit()
    db.conn.close()
    store = Store.open(path)
    assert "m005_feed_health" in [m.name for m in migrations.applied(store.db)]
    assert set(store.db["feed_health"].columns_dict) == {
        "feed_url", "state", "since", "notified_at", "advertised"}
    assert "entries_feed_published" in {i.name for i in store.db["entries"].indexes}
    history = store.entry_histories()[URL]
    assert history.published == (datetime(2026, 3, 1, tzinfo=UTC),)
    assert history.last_seen == datetime(2026, 3, 1, 1, tzinfo=UTC)
    store.set_health_state(URL, HealthState.NOT_A_FEED, NOW - HOUR, NOW, ["https://x/rss"])
    assert store.health_states() == {URL: HealthRecord(
        URL, HealthState.NOT_A_FEED, NOW - HOUR, NOW, ("https://x/rss",))}
    store.set_health_state(URL, HealthState.OK, None, NOW + HOUR)
    assert store.health_states()[URL] == HealthRecord(URL, HealthState.OK, None, NOW + HOUR)
    store.close()


def test_entry_histories_give_each_feeds_latest_entries_in_one_query():
    store = Store.memory()
    store.sync_feeds([FeedSource("https://a"), FeedSource("https://b"), FeedSource("https://c")])
    store.upsert_entries("https://a", [entry(f"a{i}", NOW - i * DAY) for i in range(40)],
                         NOW - HOUR)
    store.upsert_entries("https://a", [entry("late", NOW - 100 * DAY)], NOW)  # backdated
    store.upsert_entries("https://b", [entry("b0", NOW - 2 * DAY)], NOW - 2 * DAY)
    store.sync_feeds([FeedSource("https://a"), FeedSource("https://b")])  # c left the OPML
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    histories = store.entry_histories(limit=30)
    store.db.conn.set_trace_callback(None)
    assert len(statements) == 1
    assert set(histories) == {"https://a", "https://b"}
    a = histories["https://a"]
    assert a.published == tuple(NOW - i * DAY for i in range(30))
    assert a.last_seen == NOW - HOUR  # the backdated entry is older than the latest 30
    assert histories["https://b"] == EntryHistory((NOW - 2 * DAY,), NOW - 2 * DAY)
    assert usual_gap(a) == 86400


def test_feed_health_rows_go_with_their_feed():
    store = Store.memory()
    store.db.execute("PRAGMA foreign_keys = ON")
    store.sync_feeds([FeedSource(URL)])
    store.set_health_state(URL, HealthState.BROKEN, NOW, NOW)
    store.db.execute("DELETE FROM feeds WHERE url = ?", [URL])
    assert store.health_states() == {}
