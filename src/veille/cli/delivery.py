"""`veille digest` and `veille channels`: preview, send and test deliveries."""

from __future__ import annotations

import asyncio
import sys

import click

from ..app import App
from ..digest import build_digest, render_html, render_json, render_markdown, render_text
from ..errors import ConfigError, WatchlistError
from ..i18n import tr
from ..outbox import PENDING_HORIZON, channels_of
from .common import FORMAT, VeilleGroup, _app, _json, _since

# --- digest and channels ------------------------------------------------------------------

@click.command()
@click.option("--watchlist", "names", multiple=True, metavar="NAME",
              help="Only this watchlist (repeatable).")
@click.option("--channel", "channels", multiple=True, metavar="NAME",
              help="With --send: only this channel (repeatable).")
@click.option("--since", metavar="DURATION|DATE", help="Preview: only entries first seen since.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "html", "json"]),
              default="text", show_default=True)
@click.option("--send", is_flag=True, help="Deliver pending matches to their channels.")
@click.pass_context
def digest(ctx: click.Context, names: tuple[str, ...], channels: tuple[str, ...],
           since: str | None, fmt: str, send: bool) -> None:
    """Preview pending matches, or deliver them with --send.

    The preview marks nothing. --send delivers each watchlist's pending matches
    to its channels, marks them delivered per channel only once the channel
    accepted them, and exits non-zero if a delivery failed (it stays pending).

    \b
    Examples:
      veille digest --watchlist parti-pirate --format markdown
      veille digest --send --channel equipe
    """
    app = _app(ctx)
    start = _since(since, app)  # a bad --since is said even with no watchlist to preview
    lists = app.watchlists()
    unknown = [n for n in names if n not in {w.name for w in lists}]
    if unknown:
        raise WatchlistError(app.settings.watchlists, unknown[0], "no such watchlist")
    if send:
        _send(app, lists, names, channels)
        return
    selected = [w for w in lists if not names or w.name in names]
    horizon = app.clock() - PENDING_HORIZON  # what --send would still deliver
    groups = [(w.name, w.description,
               app.store.matched_entries([w.name], since=start,
                                         pending_for=channels_of(w), matched_since=horizon))
              for w in selected]
    preview = build_digest(groups, app.clock(), app.settings.timezone,
                           language=app.settings.language)
    if fmt == "json":
        _json(render_json(preview))
    elif fmt == "html":
        click.echo(render_html(preview), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(preview), nl=False)
    else:
        click.echo(render_text(preview), nl=False)


def _send(app: App, lists: list, names: tuple[str, ...], channels: tuple[str, ...]) -> None:
    unknown = [c for c in channels if c not in app.settings.channels]
    if unknown:
        raise ConfigError(app.settings.config_file, f"channels.{unknown[0]}", "no such channel")
    outcomes = asyncio.run(app.outbox(lists, sys.stdout).deliver(names or None,
                                                                 channels or None))
    failed = [o for o in outcomes if not o.ok]
    for o in outcomes:
        line = (f"{'sent' if o.ok else 'FAILED'}: {o.watchlist} → {o.channel}: "
                f"{o.matches} matches ({o.detail})")
        click.echo(line, err=not o.ok)
    if not outcomes:
        click.echo("nothing pending")
    if failed:
        ctx = click.get_current_context()
        click.echo(f"veille: {len(failed)} deliveries failed; they stay pending", err=True)
        ctx.exit(1)


@click.group(cls=VeilleGroup)
def channels() -> None:
    """List delivery channels and test them.

    \b
    Example:
      veille channels test equipe
    """


@channels.command("list")
@FORMAT
@click.pass_context
def channels_list(ctx: click.Context, fmt: str) -> None:
    """Show the configured channels, secrets masked.

    \b
    Example:
      veille channels list
    """
    app = _app(ctx)
    built = app.channels(sys.stdout)
    rows = [{"name": name, "type": app.settings.channels[name].type,
             "description": channel.describe()} for name, channel in built.items()]
    if fmt == "json":
        _json(rows)
        return
    for r in rows:
        click.echo(f"{click.style(r['name'], bold=True)}  {r['description']}")


@channels.command("test")
@click.argument("name")
@click.pass_context
def channels_test(ctx: click.Context, name: str) -> None:
    """Send a short test message through channel NAME and show the server's answer.

    \b
    Example:
      veille channels test equipe
    """
    app = _app(ctx)
    built = app.channels(sys.stdout)
    if name not in built:
        raise ConfigError(app.settings.config_file, f"channels.{name}", "no such channel")
    lang = app.settings.language
    test = build_digest([("test", tr(lang, "Message de test : le canal fonctionne."), [])],
                        app.clock(), app.settings.timezone, language=lang)
    receipt = asyncio.run(built[name].send(test))
    click.echo(f"{name}: accepted: {receipt.detail}")
