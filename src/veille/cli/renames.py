"""`veille watch rename` and `veille feeds move`: change a name or an address, keep the history."""

from __future__ import annotations

import click

from ..renames import move_feed, rename_watchlist
from ..url_check import http_url_problem
from .common import _app


@click.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_context
def watch_rename(ctx: click.Context, old: str, new: str) -> None:
    """Rename watchlist OLD to NEW, keeping its matches, pending deliveries and digest times.

    Edits only the `name` line of watchlists.toml (comments stay) and updates
    the database in the same step; on any error neither changes.

    \b
    Example:
      veille watch rename nestle nestle-france
    """
    app = _app(ctx)
    report = rename_watchlist(app.store, app.settings.watchlists, old, new)
    click.echo(f"renamed {old} to {new}: {report.matches} matches, {report.pending} deliveries "
               f"pending, {report.slots} digest times kept")


@click.command("move")
@click.argument("old_url")
@click.argument("new_url")
@click.pass_context
def feeds_move(ctx: click.Context, old_url: str, new_url: str) -> None:
    """Change a feed's URL in feeds.opml, keeping its entries and history.

    The outline keeps its title, folder and position; stored entries move to
    NEW_URL, so they do not come back as new. Run it when `veille status` or
    `veille feeds list` shows a feed moved (301/308): NEW_URL is that address.

    \b
    Example:
      veille feeds move http://example.org/rss https://example.org/feed.xml
    """
    problem = http_url_problem(new_url)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="NEW_URL")
    app = _app(ctx)
    report = move_feed(app.store, app.settings.feeds, old_url, new_url)
    click.echo(f"moved {old_url} to {new_url}"
               + (f": {report.entries} entries kept" if report.known else ""))
