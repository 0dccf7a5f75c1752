"""`veille report`: what was said about each watchlist over a period, as a page people forward.

    data.gather(store, watchlists, settings, since, now)   -> Report (the numbers)
    charts.report_specs(report)                           -> Vega-Lite dicts
      -> SVG inline in one self-contained HTML file        (render.render_html)
      -> PNG by cid: in an email, beside a text summary    (render.render_email_html)
    render.report_json(report)                            -> the webhooks' JSON

Sending on a schedule is report_watch.py's, beside the daemon.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..config import Settings
from ..models import Notice
from ..store import Store
from ..watchlists import Watchlist
from . import charts
from .data import Report, gather
from .render import render_email_html, render_html, render_text, report_json, subject

__all__ = ["Report", "build_report", "gather", "html_page", "report_json", "report_notice",
           "render_text", "subject"]


def build_report(store: Store, watchlists: Sequence[Watchlist], settings: Settings,
                 since: datetime, now: datetime) -> Report:
    return gather(store, watchlists, settings, since, now)


def html_page(report: Report) -> str:
    """The self-contained HTML file, charts drawn as SVG."""
    svgs = charts.draw_all(charts.report_specs(report), report.language, "svg")
    return render_html(report, {k: str(v) for k, v in svgs.items()})


def report_notice(report: Report) -> Notice:
    """The report as an alert the outbox sends like the others: text for chat services, the
    numbers for webhooks, and for email the HTML with its charts as PNG parts."""
    pngs = charts.draw_all(charts.report_specs(report), report.language, "png")
    cids = {name: f"{name}.{report.id[:16]}@veille" for name in pngs}
    images = tuple((cids[name], png) for name, png in pngs.items() if isinstance(png, bytes))
    return Notice(report.id, "report", subject(report), render_text(report), report_json(report),
                  report.generated_at, render_email_html(report, cids), images)
