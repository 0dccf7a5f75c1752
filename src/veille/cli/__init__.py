"""The `veille` command: a thin skin over app.py. Turns every VeilleError into one line on
stderr and a non-zero exit; nothing else here decides anything."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from ..daemon_lock import daemon_running
from ..errors import ConfigError
from ..gc_tuning import tune_gc
from ..logs import setup_logging
from ..models import FeedOutcome, PassSummary, StoredEntry
from ..outcomes import OutcomeStatus
from ..status import build_status
from .common import FORMAT, STARTER_FILES, _app, _json, _since, _when, cli
from .db import db
from .delivery import channels, digest
from .feeds import feeds
from .report import report
from .search import search
from .watch import watch

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
    parts = [f"{len(summary.outcomes)} feeds: {summary.count(OutcomeStatus.OK)} ok",
             f"{summary.count(OutcomeStatus.UNCHANGED)} unchanged",
             f"{summary.count(OutcomeStatus.FAILED)} failed"]
    for status in (OutcomeStatus.GONE, OutcomeStatus.DEFERRED):
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
        if o.failing:
            click.echo(f"{o.status}: {o.url}: {o.message}", err=True)
        if o.moved_to:
            click.echo(f"moved: {o.url} -> {o.moved_to} (run: veille feeds move {o.url} "
                       f"{o.moved_to})", err=True)
    click.echo(_summary_line(summary))


# --- entries ---------------------------------------------------------------------------------

def _entry_json(e: StoredEntry) -> dict[str, Any]:
    return {"id": e.id, "title": e.title, "link": e.link, "feed": e.feed_url,
            "feed_title": e.feed_title, "author": e.author, "published": e.published,
            "updated": e.updated, "first_seen": e.first_seen, "changed_at": e.changed_at,
            "categories": list(e.categories), "language": e.language,
            "summary": e.summary_text, "outlet": e.outlet}


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



cli.add_command(feeds)
cli.add_command(watch)
cli.add_command(search)
cli.add_command(digest)
cli.add_command(channels)
cli.add_command(report)
cli.add_command(db)


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
    from ..daemon import Daemon  # APScheduler and the daemon's parts: only for `run`

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
    if d["parser_crashes"] or d["parse_timeouts"]:
        click.echo(f"parser: {d['parser_crashes']} crashes, {d['parse_timeouts']} timeouts "
                   "(each time the worker pool was replaced)")
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
    r = report["report"]
    if r["schedule"]:
        click.echo(f"report: {r['schedule']}, last {_when(r['last'], tz)}, next "
                   f"{_when(r['next'], tz) if r['next'] else '- (planned by the daemon)'}")
    for reason in report["attention"]:
        click.echo(click.style(f"attention: {reason}", fg="yellow"), err=True)


def main(argv: list[str] | None = None) -> None:
    """The `veille` command's process (tests call `cli`, and keep Python's defaults)."""
    tune_gc()
    cli.main(args=argv, prog_name="veille")


from .renames import feeds_move, watch_rename  # noqa: E402

feeds.add_command(feeds_move)
watch.add_command(watch_rename)

from .doctor import feeds_doctor  # noqa: E402

feeds.add_command(feeds_doctor)
