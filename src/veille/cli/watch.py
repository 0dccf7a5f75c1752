"""`veille watch`: list, check, test and backfill the watchlists."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import WatchlistError
from ..models import StoredMatch
from ..search import search
from ..spikes import format_factor, format_window
from ..units import parse_since
from .common import (
    FORMAT,
    VeilleGroup,
    _app,
    _count,
    _highlight,
    _json,
    _since,
    _when,
    compile_query,
)

# --- watchlists ------------------------------------------------------------------------------

@click.group(cls=VeilleGroup)
def watch() -> None:
    """Check, list and try watchlists.

    \b
    Example:
      veille watch test '"parti pirate" -"pirate bay"' --since 30d
    """


@watch.command("list")
@FORMAT
@click.pass_context
def watch_list(ctx: click.Context, fmt: str) -> None:
    """Watchlists with their match counts over the last 24 hours and 7 days.

    \b
    Example:
      veille watch list
    """
    app = _app(ctx)
    lists = app.watchlists()
    now = app.clock()
    day = app.store.match_counts(parse_since("24h", now))
    week = app.store.match_counts(parse_since("7d", now))
    rows: list[dict[str, Any]] = [
            {"name": w.name, "query": w.query, "enabled": w.enabled, "schedule": w.schedule,
             "channels": list(w.channels) or ["console"], "matches_24h": day.get(w.name, 0),
             "matches_7d": week.get(w.name, 0)} for w in lists]
    if fmt == "json":
        _json(rows)
        return
    for r in rows:
        state = "" if r["enabled"] else click.style("  (disabled)", fg="yellow")
        click.echo(f"{click.style(r['name'], bold=True)}{state}  {r['matches_24h']} in 24h, "
                   f"{r['matches_7d']} in 7 days  [{r['schedule']} → {', '.join(r['channels'])}]")
        click.echo(f"    {r['query']}")


@watch.command("check")
@click.pass_context
def watch_check(ctx: click.Context) -> None:
    """Validate watchlists.toml; exits non-zero with the first error.

    \b
    Example:
      veille watch check && systemctl reload veille
    """
    app = _app(ctx)
    lists = app.watchlists()
    click.echo(f"{app.settings.watchlists.name}: {len(lists)} watchlists OK")


def _match_json(m: StoredMatch) -> dict[str, Any]:
    e = m.entry
    return {"title": e.title, "link": e.link, "feed": e.feed_title or e.feed_url,
            "feed_url": e.feed_url, "published": e.published, "first_seen": e.first_seen,
            "terms": list(m.terms), "snippet": m.snippet, "outlet": e.outlet}


@watch.command("test")
@click.argument("query")
@click.option("--since", default="30d", show_default=True, metavar="DURATION|DATE")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@FORMAT
@click.pass_context
def watch_test(ctx: click.Context, query: str, since: str, limit: int, fmt: str) -> None:
    """Show what QUERY would match among stored entries.

    \b
    Example:
      veille watch test 'nestlé -"nestlé waters"' --since 7d
    """
    app = _app(ctx)
    compiled = compile_query("test", query)
    # every match is counted, so the index's candidates are all examined (limit=None)
    found = search(app.store, compiled, now=app.clock(), since=_since(since, app)).matches
    shown = found[:limit]
    if fmt == "json":
        _json([_match_json(m) for m in shown])
        return
    color = sys.stdout.isatty()
    tz = app.settings.tz
    for hit in shown:
        entry = hit.entry
        click.echo(f"{_when(entry.published, tz)}  {_highlight(entry.title, hit.terms, color)}"
                   f"  — {entry.feed_title}")
        click.echo(f"    {_highlight(hit.snippet, hit.terms, color)}")
        if entry.link:
            click.echo(f"    {entry.link}")
    click.echo(f"{len(found)} matches" + (f" ({limit} shown)" if len(found) > limit else ""))


@watch.command("spikes")
@click.option("--since", default="7d", show_default=True, metavar="DURATION|DATE",
              help="Past episodes since then.")
@FORMAT
@click.pass_context
def watch_spikes(ctx: click.Context, since: str, fmt: str) -> None:
    """Show each watchlist's current rate, its usual rate and its spike episodes.

    \b
    Example:
      veille watch spikes --since 30d --format json
    """
    app = _app(ctx)
    start = _since(since, app)
    assert start is not None
    reports = app.spike_watch(sys.stdout).reports(app.watchlists(), start)
    if fmt == "json":
        _json([r.as_dict() for r in reports])
        return
    tz = app.settings.tz
    for r in reports:
        if not r.enabled:
            click.echo(f"{r.watchlist}: spikes off")
            continue
        now = (f"{_count(r.count, 'story', 'stories')} in the last "
               f"{format_window(r.window)}, usually "
               f"{r.baseline:.1f} ({format_factor(r.factor)})")
        if r.in_episode_since:
            now += click.style(f", SPIKE since {_when(r.in_episode_since, tz)}", fg="red")
        click.echo(f"{r.watchlist}: {now}")
        for e in r.episodes:
            end = _when(e.ended_at, tz) if e.ended_at else "ongoing"
            click.echo(f"  episode {_when(e.started_at, tz)} → {end}: "
                       f"peak {e.peak_count} ({format_factor(e.peak_factor)}), usually "
                       f"{e.baseline:.1f}")


@watch.command("backfill")
@click.argument("name")
@click.option("--since", default="30d", show_default=True, metavar="DURATION|DATE")
@click.pass_context
def watch_backfill(ctx: click.Context, name: str, since: str) -> None:
    """Apply watchlist NAME to stored entries first seen since --since.

    Entries published before the catch-up window are recorded silently:
    visible in `watch test` and history, never delivered.

    \b
    Example:
      veille watch backfill parti-pirate --since 30d
    """
    app = _app(ctx)
    lists = {w.name: w for w in app.watchlists()}
    if name not in lists:
        raise WatchlistError(app.settings.watchlists, name, "no such watchlist")
    examined, added = app.backfill(lists[name], _since(since, app))
    click.echo(f"{name}: {examined} entries examined, {added} new matches")
