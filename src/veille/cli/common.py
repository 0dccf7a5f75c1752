"""What every command shares: the root group, errors as one line, JSON output, dates."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..app import App
from ..config import load_settings
from ..errors import VeilleError, WatchlistError
from ..match import CompiledWatchlist, QuerySyntaxError, compile_watchlist, highlight_spans
from ..units import parse_since

STARTER_FILES = ("veille.toml", "feeds.opml", "watchlists.toml")
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="Output format.")


class VeilleGroup(click.Group):
    """Lists commands in the order they are defined, and turns VeilleError into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VeilleError as e:
            click.echo(f"veille: {e}", err=True)
            ctx.exit(2 if isinstance(e, WatchlistError) else 1)
        except sqlite3.DatabaseError as e:  # a damaged or foreign database file
            app = ctx.find_root().obj.get("app") if ctx.find_root().obj else None
            where = f"{app.settings.database}: " if app is not None else ""
            click.echo(f"veille: {where}database error: {e}", err=True)
            ctx.exit(1)


def _app(ctx: click.Context) -> App:
    obj = ctx.find_root().obj
    if "app" not in obj:
        obj["app"] = App(load_settings(obj["config"]))
        ctx.call_on_close(obj["app"].close)
    return obj["app"]


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _count(n: int, one: str, many: str | None = None) -> str:
    """"1 feed", "3 feeds", "0 stories": the CLI's English plural."""
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"


def _when(value: datetime | None, tz: Any) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "-"


def _since(text: str | None, app: App) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_since(text, app.clock())
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None


def compile_query(name: str, query: str) -> CompiledWatchlist:
    """A query typed on the command line; a syntax error names its column."""
    try:
        return compile_watchlist(name, query)
    except QuerySyntaxError as e:
        raise WatchlistError(None, "query", e.message, e.column) from None


def _highlight(text: str, terms: tuple[str, ...], color: bool) -> str:
    """Matched terms in bold yellow, on a terminal only."""
    if not color:
        return text
    out, pos = [], 0
    for start, end in highlight_spans(text, terms):
        out += [text[pos:start], click.style(text[start:end], fg="yellow", bold=True)]
        pos = end
    return "".join(out) + text[pos:]


@click.group(cls=VeilleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False),
              envvar=None, help="veille.toml to use (default: $VEILLE_CONFIG, ./veille.toml, "
              "$XDG_CONFIG_HOME/veille/veille.toml, /etc/veille/veille.toml).")
@click.version_option(__version__, prog_name="veille")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Watch feeds for what is said about a brand, a person or a cause.

    \b
    Example:
      veille --config veille.toml fetch
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
