"""Delivery against real servers on 127.0.0.1: SMTP (aiosmtpd) and an HTTP receiver."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email import policy
from html.parser import HTMLParser

import pytest

from veille.digest import Digest, WatchlistDigest

from .conftest import FeedServer, MailSink, Workspace, pubdate, rss, smtp_controller

NOW = datetime.now(UTC)
WATCH = """
[[watchlist]]
name = "parti-pirate"
description = "Le Parti pirate"
query = '"parti pirate"'
channels = [{channels}]
"""


class Tags(HTMLParser):
    """Every tag and attribute of an HTML document, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes += attrs


def setup(ws: Workspace, server: FeedServer, channels: str, config: str,
          items: list[dict[str, str]] | None = None) -> None:
    ws.write_config(config)
    ws.write_watchlists(WATCH.format(channels=channels))
    items = items or [
        {"title": "Le Parti pirate dépose ses listes", "link": "https://ex.fr/1?utm_source=x",
         "guid": "1", "pubDate": pubdate(NOW - timedelta(hours=1)),
         "description": "Le <b>Parti pirate</b> présente des candidats aux européennes."},
        {"title": "Européennes : le parti pirate en campagne", "link": "https://ex.fr/2",
         "guid": "2", "pubDate": pubdate(NOW - timedelta(hours=2)),
         "description": "Réunion publique à Rennes."},
    ]
    ws.write_feeds([server.serve("/f.xml", rss(items, title="Ouest-Éclair"))])
    ws.run("fetch")


def smtp_config(port: int) -> str:
    return (f'[channels.equipe]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
            f'security = "none"\nfrom = "Veille <veille@example.org>"\n'
            f'to = ["com@example.org", "presse@example.org"]\n')


def test_email_digest_structure_and_no_duplicates(feed_server, smtp_server: MailSink,
                                                 workspace: Workspace):
    setup(workspace, feed_server, '"equipe"', smtp_config(smtp_server.port))
    out = workspace.run("digest", "--send").stdout
    assert "sent: parti-pirate → equipe: 2 matches (250 2.0.0 Ok: queued as VEILLE42)" in out
    [envelope] = smtp_server.messages
    assert envelope.mail_from == "veille@example.org"
    assert envelope.rcpt_tos == ["com@example.org", "presse@example.org"]
    msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert msg["Subject"] == "[veille] parti-pirate — 2 sujets, 2 mentions"
    assert msg["Message-ID"].startswith("<veille.") and msg["Date"] and msg["List-Id"]
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.get_payload()
    assert text.get_content_type() == "text/plain" and text.get_content_charset() == "utf-8"
    assert html.get_content_type() == "text/html" and html.get_content_charset() == "utf-8"
    assert "Le Parti pirate dépose ses listes" in text.get_content()
    assert "*Parti pirate*" in text.get_content()
    body = html.get_content()
    assert '<mark style="background:#fff3b0;color:inherit;">Parti pirate</mark>' in body
    # links are sent without their tracking parameters
    assert "Ouest-Éclair" in body and 'href="https://ex.fr/1"' in body and "utm_" not in body
    assert "nothing pending" in workspace.run("digest", "--send").stdout
    assert len(smtp_server.messages) == 1
    pending = json.loads(workspace.run("digest", "--format", "json").stdout)
    assert pending["watchlists"][0]["matches"] == []


def test_smtp_down_keeps_matches_pending(feed_server, smtp_server, workspace, refused_port):
    setup(workspace, feed_server, '"equipe"', smtp_config(refused_port))
    result = workspace.run("digest", "--send", code=1)
    assert "FAILED: parti-pirate → equipe" in result.stderr and "Connection refused" in \
        result.stderr
    assert len(json.loads(workspace.run("digest", "--format", "json").stdout)
               ["watchlists"][0]["matches"]) == 2
    workspace.write_config(smtp_config(smtp_server.port))
    assert "sent: parti-pirate → equipe: 2 matches" in workspace.run("digest", "--send").stdout
    assert len(smtp_server.messages) == 1


def test_webhook_signed_retried_with_the_same_id(feed_server, workspace, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t")
    config = (f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n'
              'secret_env = "HOOK_SECRET"\n')
    setup(workspace, feed_server, '"hook"', config)
    feed_server.routes["/hook"] = (500, {}, b"down for maintenance")
    result = workspace.run("digest", "--send", code=1)
    assert "HTTP 500" in result.stderr and "down for maintenance" in result.stderr
    feed_server.routes["/hook"] = (204, {}, b"")
    assert "sent: parti-pirate → hook: 2 matches (HTTP 204" in workspace.run(
        "digest", "--send").stdout
    first, second = feed_server.requests("/hook")
    for request in (first, second):
        expected = "sha256=" + hmac.new(b"s3cr3t", request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-veille-signature"] == expected
    a, b = json.loads(first.body), json.loads(second.body)
    assert a["id"] == b["id"] and a["watchlist"] == "parti-pirate"
    assert {"id", "watchlist", "generated_at", "matches"} <= a.keys()
    assert {"title", "link", "feed", "published", "first_seen", "terms", "snippet"} <= \
        a["matches"][0].keys()
    assert "nothing pending" in workspace.run("digest", "--send").stdout
    assert len(feed_server.requests("/hook")) == 2


def test_hostile_feed_html_never_reaches_the_html_part(feed_server, smtp_server, workspace):
    items = [{"title": "<script>alert(1)</script> Parti pirate <img src=x onerror=alert(2)>",
              "link": "javascript:alert(3)", "guid": "h1",
              "pubDate": pubdate(NOW),
              "description": '<p onclick="x()">Parti pirate <iframe src="https://evil"></iframe>'
                             '<form action="https://evil"><input></form>'
                             '<a href="javascript:alert(4)">lien</a>'
                             '<img src="https://tracker.example/pixel.gif">'
                             '<style>body{display:none}</style></p>'}]
    setup(workspace, feed_server, '"equipe"', smtp_config(smtp_server.port), items)
    workspace.run("digest", "--send")
    msg = email.message_from_bytes(smtp_server.messages[0].original_content,
                                   policy=policy.default)
    html = msg.get_payload()[1].get_content()
    tags = Tags()
    tags.feed(html)
    assert not {"script", "iframe", "form", "input", "img", "style", "object"} & tags.names
    for name, value in tags.attributes:
        assert not name.startswith("on"), name
        assert "javascript:" not in (value or "").lower()
        assert "evil" not in (value or "") and "tracker.example" not in (value or "")
        assert "display:none" not in (value or "")
    assert "&lt;script&gt;" in html  # the title's markup is shown as text, harmless


def test_same_story_in_two_feeds_is_shown_once(feed_server, workspace):
    workspace.write_watchlists(WATCH.format(channels=""))
    story = {"title": "Le Parti pirate dépose ses listes", "guid": "x",
             "pubDate": pubdate(NOW)}
    a = feed_server.serve("/a.xml", rss([{**story, "link": "https://ex.fr/p?utm_source=a"}],
                                        title="Fil A"))
    b = feed_server.serve("/b.xml", rss([{**story, "link": "http://EX.fr/p/?fbclid=zz"}],
                                        title="Fil B"))
    workspace.write_feeds([a, b])
    workspace.run("fetch")
    data = json.loads(workspace.run("digest", "--format", "json").stdout)
    [item] = data["watchlists"][0]["matches"]
    assert data["watchlists"][0]["count"] == 2
    assert item["also_in"] == ["Fil B"] or item["also_in"] == ["Fil A"]
    text = workspace.run("digest").stdout
    assert "aussi dans" in text
    assert "## parti-pirate — 1 sujet, 2 mentions" in workspace.run("digest", "--format",
                                                                    "markdown").stdout
    # the link shown is the article's, tracking parameters removed, as the feed spelt it
    assert item["link"] in ("https://ex.fr/p", "http://EX.fr/p/") and item["mentions"] == 2
    assert data["watchlists"][0]["stories"] == 1
    assert "<!DOCTYPE html>" in workspace.run("digest", "--format", "html").stdout


def test_console_channel_is_the_default(feed_server, workspace):
    setup(workspace, feed_server, "", "")
    out = workspace.run("digest", "--send").stdout
    assert "[veille] parti-pirate — 2 sujets, 2 mentions" in out
    assert "sent: parti-pirate → console: 2 matches (printed)" in out


def test_apprise_channel_posts_to_a_real_receiver(feed_server, workspace):
    feed_server.routes["/notify"] = (200, {}, b"{}")
    url = feed_server.url("/notify").replace("http://", "json://")
    setup(workspace, feed_server, '"chat"', f'[channels.chat]\ntype = "apprise"\n'
                                             f'urls = ["{url}"]\n')
    assert "sent: parti-pirate → chat" in workspace.run("digest", "--send").stdout
    [request] = feed_server.requests("/notify")
    payload = json.loads(request.body)
    assert payload["title"] == "[veille] parti-pirate — 2 sujets, 2 mentions"
    assert "https://ex.fr/1" in payload["message"]


def test_channels_list_masks_secrets_and_test_reports_the_answer(smtp_server, workspace,
                                                                 monkeypatch):
    monkeypatch.setenv("SMTP_PASS", "hunter2-secret")
    workspace.write_config(
        smtp_config(smtp_server.port) + 'username = "veille"\npassword_env = "SMTP_PASS"\n'
        '[channels.hook]\ntype = "webhook"\nurl = "https://hooks.example.org/t/abc123token"\n'
        '[channels.chat]\ntype = "apprise"\nurls = ["tgram://bottoken123/chatid"]\n')
    out = workspace.run("channels", "list").stdout
    assert "equipe" in out and "hook" in out and "console" in out
    for secret in ("hunter2-secret", "abc123token", "bottoken123"):
        assert secret not in out
    workspace.write_config(smtp_config(smtp_server.port))
    out = workspace.run("channels", "test", "equipe").stdout
    assert out == "equipe: accepted: 250 2.0.0 Ok: queued as VEILLE42\n"
    msg = email.message_from_bytes(smtp_server.messages[0].original_content,
                                   policy=policy.default)
    assert msg["Subject"] == "[veille] message de test"
    err = workspace.run("channels", "test", "nope", code=1).stderr
    assert "no such channel" in err


def test_failed_batches_are_retried_with_backoff_and_status_says_so(feed_server, workspace):
    import asyncio
    import io

    from veille.app import App
    from veille.config import load_settings

    config = f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n'
    setup(workspace, feed_server, '"hook"', config)
    feed_server.routes["/hook"] = (503, {}, b"busy")
    clock = [datetime.now(UTC)]
    app = App(load_settings(workspace.config, {}), clock=lambda: clock[0])
    outbox = app.outbox(app.watchlists(), io.StringIO())
    before = json.loads(workspace.run("status", "--format", "json", code=1).stdout)
    assert [c["pending"] for c in before["channels"] if c["name"] == "hook"] == [2]
    [failed] = asyncio.run(outbox.deliver())
    assert not failed.ok and "HTTP 503" in failed.detail
    assert asyncio.run(outbox.retry_due()) == []  # its backoff (1 minute) has not passed
    report = json.loads(workspace.run("status", "--format", "json", code=1).stdout)
    [hook] = [c for c in report["channels"] if c["name"] == "hook"]
    assert hook["failed"] == 2 and hook["pending"] == 2 and "HTTP 503" in hook["last_error"]
    assert any("channel hook" in a for a in report["attention"])
    feed_server.routes["/hook"] = (200, {}, b"ok")
    clock[0] += timedelta(seconds=61)
    [retried] = asyncio.run(outbox.retry_due())
    assert retried.ok and retried.batch_id == failed.batch_id
    app.close()
    ids = {json.loads(r.body)["id"] for r in feed_server.requests("/hook")}
    assert ids == {failed.batch_id}


def test_large_digests_are_split_not_truncated(feed_server, workspace, monkeypatch):
    from veille import outbox

    monkeypatch.setattr(outbox, "MAX_BATCH", 2)
    items = [{"title": f"Le Parti pirate, épisode {i}", "link": f"https://ex.fr/{i}",
              "guid": f"s{i}", "pubDate": pubdate(NOW - timedelta(minutes=i))} for i in range(5)]
    config = f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n'
    feed_server.routes["/hook"] = (204, {}, b"")
    setup(workspace, feed_server, '"hook"', config, items)
    out = workspace.run("digest", "--send").stdout
    assert out.count("sent: parti-pirate → hook") == 3
    payloads = [json.loads(r.body) for r in feed_server.requests("/hook")]
    assert sorted(len(p["matches"]) for p in payloads) == [1, 2, 2]
    assert len({p["id"] for p in payloads}) == 3
    titles = {m["title"] for p in payloads for m in p["matches"]}
    assert titles == {f"Le Parti pirate, épisode {i}" for i in range(5)}


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_uses_the_secret_and_reports_refusals(feed_server, workspace, monkeypatch):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            received.append(envelope)
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == b"veille" and \
            data.password == b"correct horse"
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535

    controller = smtp_controller(Handler(), authenticator=authenticator,
                                 auth_require_tls=False, auth_required=True)
    try:
        config = (smtp_config(controller.port)
                  + 'username = "veille"\npassword_env = "SMTP_PW"\n')
        monkeypatch.setenv("SMTP_PW", "wrong")
        setup(workspace, feed_server, '"equipe"', config)
        err = workspace.run("digest", "--send", code=1).stderr
        assert "535" in err and "wrong" not in err  # the server's answer, never the secret
        monkeypatch.setenv("SMTP_PW", "correct horse")
        assert "sent: parti-pirate → equipe" in workspace.run("digest", "--send").stdout
        assert len(received) == 1
        monkeypatch.delenv("SMTP_PW")
        err = workspace.run("channels", "test", "equipe", code=1).stderr
        assert "no password" in err
    finally:
        controller.stop()


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_is_verified_on_the_wire(feed_server, workspace, tmp_path, security):
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            received.append(server.transport.get_extra_info("ssl_object") is not None)
            return "250 OK"

    options = ({"tls_context": server_context, "require_starttls": True}
               if security == "starttls" else {"ssl_context": server_context})
    controller = smtp_controller(Handler(), **options)
    try:
        base = smtp_config(controller.port).replace('security = "none"',
                                                    f'security = "{security}"')
        setup(workspace, feed_server, '"equipe"', base)
        err = workspace.run("digest", "--send", code=1).stderr  # an unknown CA is refused
        assert "CERTIFICATE_VERIFY_FAILED" in err
        workspace.write_config(base + f'ca_file = "{ca_file}"\n')
        assert "sent: parti-pirate → equipe" in workspace.run("digest", "--send").stdout
        assert received == [True]
    finally:
        controller.stop()


def test_a_batch_being_sent_elsewhere_is_not_sent_twice(feed_server, workspace):
    import asyncio
    import io

    from veille.app import App
    from veille.config import load_settings
    from veille.outbox import CLAIM

    config = f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n'
    setup(workspace, feed_server, '"hook"', config)
    feed_server.routes["/hook"] = (204, {}, b"")
    now = datetime.now(UTC)
    app = App(load_settings(workspace.config, {}), clock=lambda: now)
    outbox = app.outbox(app.watchlists(), io.StringIO())
    [watchlist] = app.watchlists()
    outbox.batch_pending(watchlist, "hook")
    [batch] = app.store.open_batches("hook")
    # another process (the daemon, say) claimed it a moment ago and is sending it
    assert app.store.claim_batch(batch.id, "hook", now, now + CLAIM)
    assert "nothing pending" in workspace.run("digest", "--send").stdout
    assert feed_server.requests("/hook") == []
    # if that process died, its claim expires and the batch goes out, once
    later = now + CLAIM + timedelta(seconds=1)
    outbox.clock = lambda: later
    [outcome] = asyncio.run(outbox.deliver())
    app.close()
    assert outcome.ok and len(feed_server.requests("/hook")) == 1


@pytest.mark.parametrize("raw, shown", [
    ("https://ex.fr/a?utm_source=x&id=3&fbclid=z", "https://ex.fr/a?id=3"),
    ("http://EX.fr/Article/?gclid=1", "http://EX.fr/Article/"),
    ("https://www.google.com/url?url=https://lemonde.fr/x%3Futm_medium%3Drss&sa=t",
     "https://lemonde.fr/x"),
    ("https://ex.fr/a?page=2#comments", "https://ex.fr/a?page=2#comments"),
    # tracking in the fragment goes too, a fragment that is an anchor stays
    ("https://www.lemonde.fr/a.html#xtor=RSS-3208", "https://www.lemonde.fr/a.html"),
    ("https://ex.fr/a?q=1#top&utm_source=rss", "https://ex.fr/a?q=1#top"),
    # the parameters kept are written as the feed wrote them, not re-encoded
    ("https://ex.fr/s?q=pizza%20Buitoni&utm_medium=rss&tri=date",
     "https://ex.fr/s?q=pizza%20Buitoni&tri=date"),
    ("https://ex.fr/s?q=caf%C3%A9+cr%C3%A8me&fbclid=1", "https://ex.fr/s?q=caf%C3%A9+cr%C3%A8me"),
    # links escaped twice (`&amp;`) lose their tracking too, and keep their other parameters
    ("https://ex.fr/a?id=3&amp;utm_source=rss&amp;page=2", "https://ex.fr/a?id=3&page=2"),
    ("https://ex.fr/a?utm_source=rss&amp;utm_medium=feed", "https://ex.fr/a"),
    ("https://ex.fr/a?id=3&amp;page=2", "https://ex.fr/a?id=3&amp;page=2"),
])
def test_links_shown_lose_their_tracking_parameters_only(raw, shown):
    from veille.normalize import clean_link

    assert clean_link(raw) == shown


def test_list_id_is_ascii_for_names_with_accents_spaces_and_ampersands():
    """RFC 2919: mail filters key on the bracketed id, made of ASCII letters, digits, hyphens
    and dots; the names as written stay readable in the phrase."""
    from veille.deliver.email import build_message

    made = Digest("x", datetime(2026, 11, 26, tzinfo=UTC), "UTC",
                  (WatchlistDigest("Parti pirate & Cie", "", (), 0),
                   WatchlistDigest("nestlé", "", (), 0)), "fr")
    raw = build_message(made, "veille@exämple.org", ["a@example.org"])
    parsed = email.message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert parsed["List-Id"] == ("veille Parti pirate & Cie nestlé "
                                 "<parti-pirate-cie-nestle.veille.xn--exmple-cua.org>")
    assert parsed["Message-ID"] == "<veille.x@xn--exmple-cua.org>"


def test_a_story_is_never_split_between_two_digests():
    """Batches were cut every 100 matches by id: a story's articles fell in two messages, each
    showing the story without the other's outlets."""
    from veille.models import StoredEntry, StoredMatch
    from veille.outbox import story_batches

    now = datetime(2026, 11, 26, tzinfo=UTC)

    def match(i: int, story: int | None) -> StoredMatch:
        entry = StoredEntry(i, "https://f", "F", f"k{i}", "t", f"https://ex.fr/{i}", None, now,
                            None, "", "", "", "", (), None, now, None, 0)
        return StoredMatch(i, "w", ("t",), "", now, False, entry, story)

    # stories: 7 = matches 1, 2 and 5; 8 = 3 and 4; 6 and 9 alone
    matches = [match(1, 7), match(2, 7), match(3, 8), match(4, 8), match(5, 7), match(6, None),
               match(9, None)]
    batches = story_batches(matches, 4)
    assert sorted(i for b in batches for i in b) == [1, 2, 3, 4, 5, 6, 9]
    for ids in ([1, 2, 5], [3, 4]):
        assert any(set(ids) <= set(b) for b in batches), batches
    assert all(len(b) <= 4 for b in batches)
    assert story_batches([match(i, 1) for i in range(1, 7)], 4) == [[1, 2, 3, 4, 5, 6]]


def test_the_preview_shows_what_send_would_deliver(feed_server, workspace):
    """Matches older than the pending horizon (14 days: after a long stop, they are history,
    not news) are not sent: the preview said they would be."""
    import sqlite3

    config = f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n'
    feed_server.routes["/hook"] = (204, {}, b"")
    setup(workspace, feed_server, '"hook"', config)
    preview = json.loads(workspace.run("digest", "--format", "json").stdout)
    assert preview["watchlists"][0]["count"] == 2
    with sqlite3.connect(workspace.root / "var" / "veille.db") as conn:
        conn.execute("UPDATE matches SET matched_at = '2026-01-01T00:00:00.000000Z'")
    preview = json.loads(workspace.run("digest", "--format", "json").stdout)
    assert preview["watchlists"][0]["count"] == 0
    assert "nothing pending" in workspace.run("digest", "--send").stdout


def test_mail_lines_are_at_most_76_characters():
    """RFC 2045: quoted-printable lines are 76 characters at most (Python's default policy
    writes 78, which strict relays and signers refuse or break)."""
    from veille.deliver.email import build_message
    from veille.digest import DigestItem

    now = datetime(2026, 11, 26, tzinfo=UTC)
    items = tuple(DigestItem("Nestlé : l’enquête sur les eaux minérales « purifiées » s’élargit "
                             "à Vittel et Perrier " * 3, f"https://ex.fr/{i}", "Le Monde", now,
                             now, ("nestlé",), "é" * 300) for i in range(3))
    made = Digest("x", now, "Europe/Paris", (WatchlistDigest("nestle", "", items, 3),), "fr")
    raw = build_message(made, "veille@example.org", ["a@example.org"]).as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 76
