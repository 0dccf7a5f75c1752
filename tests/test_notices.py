"""Alerts that are not digests reach real servers on 127.0.0.1 (a webhook receiver, aiosmtpd)
once, are retried after a failure with backoff, and are never queued twice."""

from __future__ import annotations

import asyncio
import email
import json
from datetime import UTC, datetime, timedelta
from email import policy

from veille.app import App
from veille.config import load_settings
from veille.models import Notice
from veille.notices import NoticeBox

from .conftest import FeedServer, MailSink, Workspace

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOTICE = Notice("ab12", "spike", "[veille] ALERTE nestle — 38 articles en 2 h (9× l'habituel)",
                "38 articles en 2 h, d'habitude 4.\n", {"id": "ab12", "kind": "spike",
                                                        "watchlist": "nestle", "count": 38},
                NOW)


def box(ws: Workspace, server: FeedServer, smtp: MailSink, now: list[datetime]) -> NoticeBox:
    ws.write_config(
        f'[channels.hook]\ntype = "webhook"\nurl = "{server.url("/hook")}"\n'
        f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp.port}\n'
        f'security = "none"\nfrom = "veille@example.org"\nto = ["presse@example.org"]\n')
    app = App(load_settings(ws.config), clock=lambda: now[0])
    return NoticeBox(app.store, app.channels(open("/dev/null", "w")), app.clock)


def test_a_notice_reaches_a_webhook_and_a_mailbox_once(workspace: Workspace,
                                                       feed_server: FeedServer,
                                                       smtp_server: MailSink):
    feed_server.routes["/hook"] = (204, {}, b"")
    now = [NOW]
    notices = box(workspace, feed_server, smtp_server, now)
    with notices.store.transaction():
        notices.queue(NOTICE, ["hook", "mail"])
        notices.queue(NOTICE, ["hook", "mail"])  # the same episode decided twice: one notice
    assert [o.ok for o in asyncio.run(notices.send_due("hook"))] == [True]
    assert [o.ok for o in asyncio.run(notices.send_due("mail"))] == [True]
    assert asyncio.run(notices.send_due("hook")) == asyncio.run(notices.send_due("mail")) == []
    [hook] = feed_server.requests("/hook")
    assert json.loads(hook.body) == {"id": "ab12", "kind": "spike", "watchlist": "nestle",
                                     "count": 38}
    assert hook.headers["x-veille-delivery"] == "ab12"
    [envelope] = smtp_server.messages
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == NOTICE.subject
    assert message["Message-ID"] == "<veille.spike.ab12@example.org>"
    assert "38 articles en 2 h" in message.get_content()


def test_a_failed_notice_waits_for_its_retry_time(workspace: Workspace, feed_server: FeedServer,
                                                  smtp_server: MailSink):
    feed_server.routes["/hook"] = (500, {}, b"boom")
    now = [NOW]
    notices = box(workspace, feed_server, smtp_server, now)
    with notices.store.transaction():
        notices.queue(NOTICE, ["hook"])
    [failed] = asyncio.run(notices.send_due("hook"))
    assert not failed.ok and "HTTP 500" in failed.detail
    feed_server.routes["/hook"] = (204, {}, b"")
    now[0] = NOW + timedelta(seconds=30)
    assert asyncio.run(notices.send_due("hook")) == []  # backoff: one minute
    now[0] = NOW + timedelta(seconds=61)
    [sent] = asyncio.run(notices.send_due("hook"))
    assert sent.ok and len(feed_server.requests("/hook")) == 2
    [row] = notices.store.notices()
    assert row["delivered_at"] and row["attempts"] == 2
