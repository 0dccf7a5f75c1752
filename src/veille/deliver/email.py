"""Email digests over SMTP: multipart/alternative (plain text + HTML), UTF-8 throughout;
reports add their charts as PNG parts (multipart/related) that the HTML shows by `cid:`.

smtplib runs in a thread; the low-level MAIL/RCPT/DATA calls let us report exactly what the
server answered, which is what people need when mail does not arrive.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Callable
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from ..config import ChannelSettings
from ..digest import Digest, render_html, render_text, subject
from ..errors import DeliveryError
from ..models import Notice
from ..normalize import words
from .base import Receipt

#: RFC 2045 wants quoted-printable lines of at most 76 characters (Python writes 78).
POLICY = SMTP.clone(max_line_length=76)
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


def _domain(address: str) -> str:
    """The sender's domain for Message-ID and List-Id, in ASCII (IDNA) as headers need."""
    domain = address.rpartition("@")[2].strip(">")
    try:
        return domain.encode("idna").decode("ascii") if domain else "veille.invalid"
    except UnicodeError:
        return "veille.invalid"


def list_id(digest: Digest, domain: str) -> str:
    """`veille nestle <nestle.veille.example.org>`: mail filters sort on the id in brackets,
    which RFC 2919 wants in plain ASCII letters, digits and hyphens ("Parti pirate & co" is
    `parti-pirate-co`); the readable names stay in the phrase before it."""
    names = " ".join(w.name for w in digest.watchlists) or "veille"
    slug = "-".join(words(names))[:200].strip("-") or "veille"
    phrase = " ".join(f"veille {names}".split())
    return f"{phrase} <{slug}.veille.{domain}>"


def build_message(digest: Digest, sender: str, recipients: list[str]) -> EmailMessage:
    """Message-ID is derived from the digest id: a resent digest is recognisably the same."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject(digest)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(digest.generated_at)
    domain = _domain(sender)
    msg["Message-ID"] = f"<veille.{digest.id}@{domain}>"
    msg["List-Id"] = list_id(digest, domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(render_text(digest), charset="utf-8", cte="quoted-printable")
    msg.add_alternative(render_html(digest), subtype="html", charset="utf-8",
                        cte="quoted-printable")
    return msg


def build_notice_message(notice: Notice, sender: str, recipients: list[str]) -> EmailMessage:
    """An alert as plain text: short, read on a phone, with its stable Message-ID."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = notice.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(notice.generated_at)
    domain = _domain(sender)
    msg["Message-ID"] = f"<veille.{notice.kind}.{notice.id}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(notice.text, charset="utf-8", cte="quoted-printable")
    if notice.html:
        _add_html(msg, notice)
    return msg


def _add_html(msg: EmailMessage, notice: Notice) -> None:
    """A report: multipart/alternative of the plain text and a multipart/related holding the
    HTML and the PNG charts it shows by `cid:` (mail clients show no SVG, and many block
    images fetched from elsewhere, so the pictures travel inside the message)."""
    msg.add_alternative(notice.html, subtype="html", charset="utf-8", cte="quoted-printable")
    *_, html_part = msg.iter_parts()  # the alternative just added
    assert isinstance(html_part, EmailMessage)
    for name, png in notice.images:
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{name}>",
                              filename=f"{name}.png", disposition="inline")


class EmailChannel:
    def __init__(self, settings: ChannelSettings, secret: Callable[[str], str | None]) -> None:
        self.name = settings.name
        self.options = settings.options
        self.secret = secret
        self.security = self.options.get("security", "starttls")
        self.port = self.options.get("port", DEFAULT_PORTS[self.security])

    def describe(self) -> str:
        user = self.options.get("username")
        login = f", login {user} (password {'set' if user else 'none'})" if user else ""
        return (f"email: {self.options['host']}:{self.port} ({self.security}){login}, "
                f"from {self.options['from']} to {', '.join(self.options['to'])}")

    async def send(self, digest: Digest) -> Receipt:
        msg = build_message(digest, self.options["from"], list(self.options["to"]))
        return await asyncio.to_thread(self._send, msg)

    async def send_notice(self, notice: Notice) -> Receipt:
        msg = build_notice_message(notice, self.options["from"], list(self.options["to"]))
        return await asyncio.to_thread(self._send, msg)

    def _send(self, msg: EmailMessage) -> Receipt:
        host = self.options["host"]
        timeout = self.options.get("timeout", 30.0)
        try:
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, self.port, timeout=timeout,
                                                      context=self._tls())
            else:
                smtp = smtplib.SMTP(host, self.port, timeout=timeout)
            with smtp:
                return self._converse(smtp, msg)
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as e:
            raise DeliveryError(self.name, f"{host}:{self.port} answered {e.smtp_code} "
                                f"{_text(e.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(self.name, f"{host}:{self.port}: {e}") from None

    def _tls(self) -> ssl.SSLContext:
        """Certificates are always verified; `ca_file` trusts a private CA besides the system's."""
        context = ssl.create_default_context()
        if self.options.get("ca_file"):
            context.load_verify_locations(cafile=self.options["ca_file"])
        return context

    def _converse(self, smtp: smtplib.SMTP, msg: EmailMessage) -> Receipt:
        smtp.ehlo()
        if self.security == "starttls":
            smtp.starttls(context=self._tls())
            smtp.ehlo()
        username = self.options.get("username")
        if username:
            password = self.secret("password")
            if password is None:
                raise DeliveryError(self.name, "no password: set password_env or password_file")
            smtp.login(username, password)
        sender = self.options["from"]
        code, reply = smtp.mail(str(Address(addr_spec=_bare(sender))))
        if code != 250:
            raise DeliveryError(self.name, f"MAIL FROM refused: {code} {_text(reply)}")
        refused = []
        for rcpt in self.options["to"]:
            code, reply = smtp.rcpt(_bare(rcpt))
            if code not in (250, 251):
                refused.append(f"{rcpt}: {code} {_text(reply)}")
        if len(refused) == len(self.options["to"]):
            smtp.rset()
            raise DeliveryError(self.name, "every recipient refused: " + "; ".join(refused))
        code, reply = smtp.data(msg.as_bytes())
        if code != 250:
            raise DeliveryError(self.name, f"message refused: {code} {_text(reply)}")
        detail = f"{code} {_text(reply)}"
        if refused:
            detail += " (refused: " + "; ".join(refused) + ")"
        return Receipt(self.name, detail)


def _bare(address: str) -> str:
    """"Veille <veille@example.org>" -> "veille@example.org"."""
    return address.rpartition("<")[2].rstrip(">").strip() if "<" in address else address.strip()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
