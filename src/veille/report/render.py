"""Report -> one self-contained HTML page, a plain-text summary, a subject, the JSON numbers.
Pure given the charts: the HTML either carries its charts as inline SVG (the file) or points
at them by `cid:` (the email, whose clients show no SVG; the PNGs travel beside it).

Nothing in the page is fetched: the style is inline, there is no script, no font file, no
image from elsewhere; only the top stories' own links point outside, and only http(s) ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from .. import i18n
from ..digest import UNTITLED
from ..spikes import format_factor
from .data import FeedHealthRow, Report, WatchlistReport

_ENV = Environment(loader=PackageLoader("veille.report", "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=True)


def _safe(link: str | None) -> bool:
    return bool(link) and str(link).lower().startswith(("http://", "https://"))


def period(report: Report) -> str:
    """"du 27 oct. 2026 au 26 nov. 2026" / "from Oct 27, 2026 to Nov 26, 2026"."""
    lang, tz = report.language, report.tz
    first = i18n.format_date(report.since.astimezone(tz).date(), lang)
    last = i18n.format_date(report.until.astimezone(tz).date(), lang)
    return f"{i18n.tr(lang, 'du')} {first} {i18n.tr(lang, 'au')} {last}"


def subject(report: Report) -> str:
    """`[veille] Rapport veille — nestle, danone — du … au …`."""
    names = ", ".join(w.name for w in report.watchlists) or "veille"
    return f"[veille] {i18n.tr(report.language, 'Rapport veille')} — {names} — {period(report)}"


def _context(report: Report, chart: Any, charts: Mapping[str, Any]) -> dict[str, Any]:
    lang, tz = report.language, report.tz

    def detail(row: FeedHealthRow) -> str:
        return row.detail if lang == "fr" else (row.error or "")

    return {
        "report": report, "lang": lang, "title": subject(report), "period": period(report),
        "charts": charts, "chart": chart, "safe": _safe,
        "t": lambda text: i18n.tr(lang, text), "colon": i18n.colon(lang), "untitled": UNTITLED,
        "num": lambda n: i18n.format_number(n, lang),
        "pct": lambda share: i18n.format_percent(share, lang),
        "dt": lambda when: i18n.format_datetime(when, tz, lang),
        "counts": lambda stories, mentions: (
            f"{i18n.format_number(stories, lang)} {i18n.plural(lang, stories, 'sujet', 'sujets')}"
            f", {i18n.format_number(mentions, lang)} "
            f"{i18n.plural(lang, mentions, 'mention', 'mentions')}"),
        "plural": lambda n, one, many: i18n.plural(lang, n, one, many),
        "factor": lambda f: format_factor(f) if math.isfinite(f) else "∞×",
        "state": lambda s: i18n.state_label(lang, s),
        "detail": detail,
        "spikes_on": lambda w: w.name in report.spike_watchlists,
    }


def render_html(report: Report, svgs: Mapping[str, str]) -> str:
    """The file: each chart inline as SVG (vl-convert's output, our own numbers only)."""
    def chart(name: str) -> Markup:
        return Markup(svgs.get(name, ""))
    return _ENV.get_template("report.html").render(_context(report, chart, svgs))


def render_email_html(report: Report, cids: Mapping[str, str]) -> str:
    """The email's HTML part: each chart an <img> pointing at its PNG part by Content-ID."""
    def chart(name: str) -> Markup:
        if name not in cids:
            return Markup("")
        return Markup('<img src="cid:{}" alt="{}" width="640" style="width:100%;'
                      'max-width:640px;height:auto">').format(cids[name], escape(name))
    return _ENV.get_template("report.html").render(_context(report, chart, cids))


def render_text(report: Report) -> str:
    return _ENV.get_template("report.txt").render(_context(report, lambda n: "", {}))


def watchlist_json(w: WatchlistReport) -> dict[str, Any]:
    return {"name": w.name, "stories": w.stories, "mentions": w.mentions,
            "share": round(w.share, 4),
            "by_day": [{"day": d.day.isoformat(), "mentions": d.mentions,
                        "stories": d.stories} for d in w.by_day],
            "top_outlets": [{"feed": o.feed, "feed_url": o.feed_url, "mentions": o.mentions}
                            for o in w.top_outlets],
            "top_stories": [{"title": s.title, "link": s.link, "feed": s.feed,
                             "outlets": s.outlets, "mentions": s.mentions,
                             "published": s.published.isoformat()} for s in w.top_stories],
            "episodes": [{"started_at": e.started_at.isoformat(),
                          "ended_at": e.ended_at.isoformat() if e.ended_at else None,
                          "peak_count": e.peak_count,
                          "peak_factor": round(e.peak_factor, 1)
                          if math.isfinite(e.peak_factor) else None} for e in w.episodes]}


def report_json(report: Report) -> dict[str, Any]:
    """What webhooks receive: {"id", "kind": "report", "generated_at", "since", "watchlists"}."""
    return {"id": report.id, "kind": "report", "generated_at": report.generated_at.isoformat(),
            "since": report.since.isoformat(), "until": report.until.isoformat(),
            "language": report.language,
            "watchlists": [watchlist_json(w) for w in report.watchlists],
            "feed_health": {"total": report.health.total, "healthy": report.health.healthy,
                            "not_ok": [{"feed": r.feed, "feed_url": r.feed_url,
                                        "state": r.state} for r in report.health.rows]}}
