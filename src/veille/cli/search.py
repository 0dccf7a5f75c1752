"""`veille search`: stored history, queried in the watchlists' own language (search.py)."""

from __future__ import annotations

import sys

import click

from ..digest import item_json, merge_stories
from ..errors import WatchlistError
from ..search import search as run_search
from .common import FORMAT, _app, _highlight, _json, _since, _when, compile_query


@click.command()
@click.argument("query")
@click.option("--since", default=None, metavar="DURATION|DATE",
              help="Only entries first seen since then (30d, 2026-11-01). Default: all.")
@click.option("--feed", "feed_url", metavar="URL", help="Only entries of this feed.")
@click.option("--watchlist", metavar="NAME", help="Only entries this watchlist matched.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most this many entries (the last stored), shown newest first.")
@FORMAT
@click.pass_context
def search(ctx: click.Context, query: str, since: str | None, feed_url: str | None,
           watchlist: str | None, limit: int, fmt: str) -> None:
    """Find stored entries matching QUERY, written as in watchlists.toml.

    Results are grouped by story (the same news in several feeds), newest first.
    A search pasted into watchlists.toml as a query finds the same entries.

    \b
    Examples:
      veille search 'nestlé -"nestlé waters"' --since 30d
      veille search 'danone (source:ouest-france OR source:letelegramme)' --format json
      veille search 'title:rappel*' --watchlist lactalis --limit 20
    """
    app = _app(ctx)
    compiled = compile_query("search", query)
    if watchlist is not None and watchlist not in {w.name for w in app.watchlists()}:
        raise WatchlistError(app.settings.watchlists, watchlist, "no such watchlist")
    if feed_url is not None and app.store.feed(feed_url) is None:
        raise click.BadParameter(f"no such feed: {feed_url}", param_hint="--feed")
    result = run_search(app.store, compiled, now=app.clock(), since=_since(since, app),
                        feed_url=feed_url, watchlist=watchlist, limit=limit)
    items = merge_stories(result.matches)
    if fmt == "json":
        _json([item_json(i) for i in items])
        return
    color = sys.stdout.isatty()
    tz = app.settings.tz
    for item in items:
        also = f"  (also in {', '.join(item.also_in)})" if item.also_in else ""
        click.echo(f"{_when(item.published, tz)}  {_highlight(item.title, item.terms, color)}"
                   f"  — {item.feed}{also}")
        click.echo(f"    {_highlight(item.snippet, item.terms, color)}")
        if item.link:
            click.echo(f"    {item.link}")
    entries = len(result.matches)
    summary = f"{entries} {'entry' if entries == 1 else 'entries'} in {len(items)} " \
              f"{'story' if len(items) == 1 else 'stories'}"
    if result.more:
        summary += f" (stopped at --limit {limit}; there may be more)"
    click.echo(summary)
