"""`veille report`: the period's report as one self-contained HTML file, or sent now."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ..app import App
from ..errors import ConfigError, DeliveryError, WatchlistError
from ..files import atomic_write
from ..models import Notice
from ..report_watch import report_watchlists
from .common import _app, _since


@click.command()
@click.option("--since", default="30d", show_default=True, metavar="DURATION|DATE",
              help="The period: entries published since then.")
@click.option("--watchlist", "names", multiple=True, metavar="NAME",
              help="Only this watchlist (repeatable; default: every enabled one).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write the HTML report to FILE.")
@click.option("--send", is_flag=True, help="Send the report now ([report] channels).")
@click.option("--channel", "channels", multiple=True, metavar="NAME",
              help="With --send: to this channel instead (repeatable).")
@click.pass_context
def report(ctx: click.Context, since: str, names: tuple[str, ...], out: Path | None,
           send: bool, channels: tuple[str, ...]) -> None:
    """Write what was said about each watchlist over a period, or send it.

    Per watchlist: mentions per day with spike episodes, share of voice, top
    outlets, top stories with their number of outlets; then feed health. The
    HTML file needs no network to open. --send mails it with PNG charts (or
    posts the numbers as JSON to webhooks), in the language of veille.toml.

    \b
    Examples:
      veille report --since 30d --out report.html
      veille report --since 7d --watchlist nestle --watchlist danone --out semaine.html
      veille report --since 7d --send --channel equipe
    """
    if out is None and not send:
        raise click.UsageError("say where to write the report (--out FILE) or --send it")
    app = _app(ctx)
    lists = _watchlists(app, names)
    start = _since(since, app)
    assert start is not None
    from ..report import build_report, html_page, report_notice  # vl-convert: only here

    app.sync_feeds()  # feed health counts the feeds of feeds.opml as it is now
    now = app.clock()
    built = build_report(app.store, lists, app.settings, start, now)
    if out is not None:
        try:
            atomic_write(out, html_page(built).encode("utf-8"))
        except OSError as e:
            raise ConfigError(out, None, f"cannot write: {e.strerror or e}") from None
        click.echo(f"wrote {out} ({out.stat().st_size // 1024} KiB, "
                   f"{len(built.watchlists)} watchlists, {built.mentions} mentions)")
    if send:
        _send(app, report_notice(built), channels)


def _watchlists(app: App, names: tuple[str, ...]) -> list:
    lists = app.watchlists()
    known = {w.name for w in lists}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WatchlistError(app.settings.watchlists, unknown[0], "no such watchlist")
    if names:
        return [w for w in lists if w.name in names]
    return report_watchlists(app.settings.report, lists)


def _send(app: App, notice: Notice, channels: tuple[str, ...]) -> None:
    targets = channels or app.settings.report.targets
    unknown = [c for c in targets if c not in app.settings.channels]
    if unknown:
        raise ConfigError(app.settings.config_file, f"channels.{unknown[0]}", "no such channel")
    built = app.channels(sys.stdout)
    failed = 0
    for name in targets:
        try:
            receipt = asyncio.run(built[name].send_notice(notice))
            click.echo(f"sent: report → {name} ({receipt.detail})")
        except DeliveryError as e:
            failed += 1
            click.echo(f"FAILED: report → {name}: {e.message}", err=True)
    if failed:
        click.get_current_context().exit(1)
