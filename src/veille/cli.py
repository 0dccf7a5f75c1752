"""The `veille` command: a thin skin over app.py. Turns every VeilleError into one line on
stderr and a non-zero exit; nothing else here decides anything."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import click

from . import __version__
from .app import App
from .config import load_settings
from .daemon import Daemon, daemon_running
from .digest import build_digest, render_html, render_json, render_markdown, render_text
from .errors import ConfigError, VeilleError, WatchlistError
from .logs import setup_logging
from .match import Matcher, QuerySyntaxError, compile_watchlist, highlight_spans
from .models import FeedOutcome, FeedSource, FeedState, PassSummary, StoredEntry, StoredMatch
from .opml import OpmlDocument, export_opml
from .outbox import channels_of
from .status import build_status
from .units import parse_duration, parse_since

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
            click.echo(f"veille: database error: {e}", err=True)
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


def _when(value: datetime | None, tz: Any) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "-"


def _since(text: str | None, app: App) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_since(text, app.clock())
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None


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


# --- init ------------------------------------------------------------------------------------

@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=".")
def init(directory: Path) -> None:
    """Write a starter veille.toml, feeds.opml and watchlists.toml.

    Never overwrites a file that exists.

    \b
    Example:
      veille init ~/.config/veille
    """
    starter = resources.files("veille") / "starter"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in STARTER_FILES:
            target = directory / name
            if target.exists():
                click.echo(f"kept     {target} (exists)")
                continue
            with resources.as_file(starter / name) as source:
                shutil.copyfile(source, target)
            click.echo(f"created  {target}")
    except OSError as e:
        raise ConfigError(directory, None, f"cannot write: {e.strerror or e}") from None


# --- fetch -----------------------------------------------------------------------------------

class _Progress:
    """A live count on a terminal; nothing at all when stderr is not one."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done: dict[str, int] = {}
        self.live = sys.stderr.isatty() and total > 1

    def __call__(self, outcome: FeedOutcome) -> None:
        self.done[outcome.status] = self.done.get(outcome.status, 0) + 1
        if self.live:
            n = sum(self.done.values())
            counts = "  ".join(f"{k} {v}" for k, v in sorted(self.done.items()))
            click.echo(f"\r{n}/{self.total} feeds  {counts}\033[K", err=True, nl=False)

    def close(self) -> None:
        if self.live:
            click.echo("\r\033[K", err=True, nl=False)


def _summary_line(summary: PassSummary) -> str:
    parts = [f"{len(summary.outcomes)} feeds: {summary.count('ok')} ok",
             f"{summary.count('unchanged')} unchanged", f"{summary.count('failed')} failed"]
    for status in ("gone", "deferred"):
        if summary.count(status):
            parts.append(f"{summary.count(status)} {status}")
    line = ", ".join(parts) + f"; {summary.new_entries} new entries"
    if summary.updated_entries:
        line += f", {summary.updated_entries} updated"
    return line + f", {summary.new_matches} new matches"


@cli.command()
@click.option("--feed", "feeds", multiple=True, metavar="URL", help="Only this feed (repeatable).")
@click.option("--due", is_flag=True, help="Only the feeds whose next poll time has come.")
@click.pass_context
def fetch(ctx: click.Context, feeds: tuple[str, ...], due: bool) -> None:
    """Fetch every feed once, store new entries and match them.

    Exits 0 even when some feeds fail: each failure is recorded on the feed
    (see `veille feeds list`) and summarized here.

    \b
    Example:
      veille fetch --feed https://www.lemonde.fr/rss/une.xml
    """
    app = _app(ctx)
    matcher = app.matcher()
    selected = app.select_feeds(app.sync_feeds(), feeds, due)
    progress = _Progress(len(selected))
    try:
        summary = asyncio.run(app.fetch(selected, matcher, progress))
    finally:
        progress.close()
    for o in sorted(summary.outcomes, key=lambda o: o.url):
        if o.status in ("failed", "gone"):
            click.echo(f"{o.status}: {o.url}: {o.message}", err=True)
        if o.moved_to:
            click.echo(f"moved: {o.url} -> {o.moved_to} (update feeds.opml)", err=True)
    click.echo(_summary_line(summary))


# --- entries ---------------------------------------------------------------------------------

def _entry_json(e: StoredEntry) -> dict[str, Any]:
    return {"id": e.id, "title": e.title, "link": e.link, "feed": e.feed_url,
            "feed_title": e.feed_title, "author": e.author, "published": e.published,
            "updated": e.updated, "first_seen": e.first_seen, "changed_at": e.changed_at,
            "categories": list(e.categories), "language": e.language,
            "summary": e.summary_text}


@cli.command()
@click.option("--since", metavar="DURATION|DATE",
              help='First seen since, e.g. "2h", "7d" or "2026-11-01".')
@click.option("--feed", metavar="URL", help="Only entries of this feed.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@FORMAT
@click.pass_context
def entries(ctx: click.Context, since: str | None, feed: str | None, limit: int,
            fmt: str) -> None:
    """List stored entries, newest first.

    \b
    Example:
      veille entries --since 2h --format json
    """
    app = _app(ctx)
    found = app.store.entries(since=_since(since, app), feed_url=feed, limit=limit)
    if fmt == "json":
        _json([_entry_json(e) for e in found])
        return
    tz = app.settings.tz
    for e in found:
        click.echo(f"{_when(e.published, tz)}  {click.style(e.title or '(untitled)', bold=True)}"
                   f"  — {e.feed_title}")
        if e.link:
            click.echo(f"                  {e.link}")


# --- feeds -----------------------------------------------------------------------------------

@cli.group(cls=VeilleGroup)
def feeds() -> None:
    """List and edit the feeds of feeds.opml.

    \b
    Example:
      veille feeds add https://www.numerama.com/feed/ --folder tech
    """


def _feed_json(f: FeedState) -> dict[str, Any]:
    return {"url": f.url, "title": f.name, "folder": f.folder, "html_url": f.html_url,
            "status": f.status, "moved_to": f.moved_to, "last_fetch": f.last_fetch,
            "last_success": f.last_success, "last_status": f.last_status,
            "error": f.error_message, "error_kind": f.error_kind, "failures": f.failures,
            "error_since": f.error_since, "next_due": f.next_due, "entries": f.entry_count,
            "interval": f.interval}


@feeds.command("list")
@FORMAT
@click.pass_context
def feeds_list(ctx: click.Context, fmt: str) -> None:
    """Show each feed with its folder and fetch state.

    \b
    Example:
      veille feeds list --format json
    """
    app = _app(ctx)
    found = app.sync_feeds()
    if fmt == "json":
        _json([_feed_json(f) for f in found])
        return
    tz = app.settings.tz
    folder = None
    for f in found:
        if f.folder != folder:
            folder = f.folder
            click.echo(click.style(f"{folder or '(no folder)'}/", bold=True))
        status = f.status
        color = {"ok": "green", "failing": "red", "gone": "red", "new": "yellow"}.get(status)
        click.echo(f"  {click.style(status.ljust(7), fg=color)} {f.name}  <{f.url}>"
                   f"  {f.entry_count} entries")
        if f.failures:
            click.echo(f"          {f.error_kind}: {f.error_message} "
                       f"(x{f.failures} since {_when(f.error_since, tz)})")
        if f.moved_to:
            click.echo(f"          moved to {f.moved_to}")


@feeds.command("add")
@click.argument("url")
@click.option("--folder", default="", help='Folder, nested with "/": "presse/régions".')
@click.option("--title", default="", help="Title shown in listings and digests.")
@click.option("--interval", default=None, metavar="DURATION", help="Poll this feed every …")
@click.pass_context
def feeds_add(ctx: click.Context, url: str, folder: str, title: str,
              interval: str | None) -> None:
    """Add a feed to feeds.opml (in place, atomically).

    \b
    Example:
      veille feeds add https://www.mediapart.fr/articles/feed --folder presse
    """
    app = _app(ctx)
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("expected an http:// or https:// URL", param_hint="URL")
    try:
        seconds = parse_duration(interval) if interval else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--interval") from None
    path = app.settings.feeds
    doc = OpmlDocument.load(path) if path.exists() else OpmlDocument.empty(path)
    if not doc.add(FeedSource(url, title, folder.strip("/"), interval=seconds)):
        click.echo(f"already in {path.name}: {url}")
        return
    doc.save()
    click.echo(f"added {url}" + (f" to {folder}" if folder else ""))


@feeds.command("remove")
@click.argument("url")
@click.pass_context
def feeds_remove(ctx: click.Context, url: str) -> None:
    """Remove a feed from feeds.opml; its stored entries are kept.

    \b
    Example:
      veille feeds remove https://example.org/feed.xml
    """
    doc = _app(ctx).opml()
    if not doc.remove(url):
        raise click.ClickException(f"{doc.path.name}: no feed {url}")
    doc.save()
    click.echo(f"removed {url}")


@feeds.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_context
def feeds_import(ctx: click.Context, file: Path) -> None:
    """Merge the feeds of another OPML file, keeping their folders; no URL twice.

    \b
    Example:
      veille feeds import ~/Downloads/freshrss.opml
    """
    app = _app(ctx)
    incoming = OpmlDocument.load(file).sources()
    path = app.settings.feeds
    doc = OpmlDocument.load(path) if path.exists() else OpmlDocument.empty(path)
    added = doc.merge(incoming)
    if added:
        doc.save()
    click.echo(f"imported {len(added)} feeds ({len(incoming) - len(added)} already there)")


@feeds.command("export")
@click.pass_context
def feeds_export(ctx: click.Context) -> None:
    """Write the feeds as OPML 2.0 on stdout (FreshRSS, Miniflux, Feedly read it).

    \b
    Example:
      veille feeds export > veille-feeds.opml
    """
    app = _app(ctx)
    click.echo(export_opml(app.opml().sources(), app.clock()), nl=False)


# --- watchlists ------------------------------------------------------------------------------

@cli.group(cls=VeilleGroup)
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


def _highlight(text: str, terms: tuple[str, ...], color: bool) -> str:
    if not color:
        return text
    out, pos = [], 0
    for start, end in highlight_spans(text, terms):
        out += [text[pos:start], click.style(text[start:end], fg="yellow", bold=True)]
        pos = end
    return "".join(out) + text[pos:]


def _match_json(m: StoredMatch) -> dict[str, Any]:
    e = m.entry
    return {"title": e.title, "link": e.link, "feed": e.feed_title or e.feed_url,
            "feed_url": e.feed_url, "published": e.published, "first_seen": e.first_seen,
            "terms": list(m.terms), "snippet": m.snippet}


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
    try:
        matcher = Matcher([compile_watchlist("test", query)])
    except QuerySyntaxError as e:
        raise WatchlistError(None, "query", e.message, e.column) from None
    found: list[StoredMatch] = []
    now = app.clock()
    for stored in app.store.iter_entries(since=_since(since, app)):
        found += [StoredMatch(0, "test", r.terms, r.snippet, now, False, stored)
                  for r in matcher.match(stored)]
    found.sort(key=lambda hit: hit.entry.published, reverse=True)
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


# --- digest and channels ------------------------------------------------------------------

@cli.command()
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
    lists = app.watchlists()
    unknown = [n for n in names if n not in {w.name for w in lists}]
    if unknown:
        raise WatchlistError(app.settings.watchlists, unknown[0], "no such watchlist")
    if send:
        _send(app, lists, names, channels)
        return
    selected = [w for w in lists if not names or w.name in names]
    groups = [(w.name, w.description,
               app.store.matched_entries([w.name], since=_since(since, app),
                                         pending_for=channels_of(w)))
              for w in selected]
    preview = build_digest(groups, app.clock(), app.settings.timezone)
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


@cli.group(cls=VeilleGroup)
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
    test = build_digest([("test", "Message de test : le canal fonctionne.", [])], app.clock(),
                        app.settings.timezone)
    receipt = asyncio.run(built[name].send(test))
    click.echo(f"{name}: accepted: {receipt.detail}")


# --- the daemon ----------------------------------------------------------------------------

@cli.command()
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object per line, for log shippers.")
@click.pass_context
def run(ctx: click.Context, log_level: str, log_format: str) -> None:
    """Run the daemon: poll on time, match, deliver, reload edits.

    Reloads veille.toml, feeds.opml and watchlists.toml when they change (or on
    SIGHUP); stops cleanly on SIGTERM. Speaks sd_notify under systemd.

    \b
    Example:
      veille --config /etc/veille/veille.toml run --log-level debug
    """
    setup_logging(log_level, log_format, os.environ)
    daemon = Daemon(ctx.find_root().obj["config"], os.environ, sys.stdout)
    ctx.exit(asyncio.run(daemon.run()))


@cli.command()
@FORMAT
@click.pass_context
def status(ctx: click.Context, fmt: str) -> None:
    """Show the daemon, feeds, channels and next digests.

    Exits non-zero when something needs attention: the daemon is not running,
    or a channel has failed deliveries waiting.

    \b
    Example:
      veille status --format json
    """
    app = _app(ctx)
    report = build_status(app, daemon_running(app.settings.lock_file))
    if fmt == "json":
        _json(report)
    else:
        _print_status(report, app.settings.tz)
    if report["attention"]:
        ctx.exit(1)


def _print_status(report: dict[str, Any], tz: Any) -> None:
    d = report["daemon"]
    state = click.style("running", fg="green") if d["running"] else click.style("not running",
                                                                                  fg="red")
    click.echo(f"daemon: {state}" + (f" since {_when(d['started'], tz)} (pid {d['pid']})"
                                     if d["running"] else ""))
    click.echo(f"polls: last {_when(d['last_poll'], tz)}, next {_when(d['next_poll'], tz)}")
    f = report["feeds"]
    click.echo(f"feeds: {f['total']} ({f['ok']} ok, {f['failing']} failing, {f['gone']} gone, "
               f"{f['moved']} moved, {f['new']} not yet polled)")
    for item in f["problems"]:
        click.echo(f"  {item['status']}: {item['url']}: {item['error']}"
                   + (f" (since {_when(item['since'], tz)})" if item["since"] else ""))
    for c in report["channels"]:
        line = f"channel {c['name']}: {c['pending']} pending, {c['failed']} failed"
        if c["last_error"]:
            line += f" — {c['last_error']}"
        click.echo(line)
    for w in report["watchlists"]:
        click.echo(f"watchlist {w['name']}: {w['schedule']}, next digest "
                   f"{_when(w['next_digest'], tz) if w['next_digest'] else '-'}")
    for reason in report["attention"]:
        click.echo(click.style(f"attention: {reason}", fg="yellow"), err=True)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="veille")


