"""`veille feeds`: the OPML file, edited atomically, and what the store knows of each feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..models import FeedSource, FeedState
from ..opml import OpmlDocument, export_opml
from ..outcomes import FeedStatus
from ..units import parse_duration
from ..websub import Subscription, describe
from .common import FORMAT, VeilleGroup, _app, _json, _when

# --- feeds -----------------------------------------------------------------------------------

@click.group(cls=VeilleGroup)
def feeds() -> None:
    """List and edit the feeds of feeds.opml.

    \b
    Example:
      veille feeds add https://www.numerama.com/feed/ --folder tech
    """


_STATUS_COLORS: dict[str, str] = {FeedStatus.OK: "green", FeedStatus.FAILING: "red",
                                  FeedStatus.GONE: "red", FeedStatus.NEW: "yellow"}


def _push_json(sub: Subscription | None) -> dict[str, Any] | None:
    if sub is None:
        return None
    return {"state": sub.state, "hub": sub.hub, "topic": sub.topic,
            "expires_at": sub.expires_at, "last_push": sub.last_push, "pushes": sub.pushes,
            "error": sub.last_error}


def _feed_json(f: FeedState, sub: Subscription | None = None) -> dict[str, Any]:
    return {"url": f.url, "title": f.name, "folder": f.folder, "html_url": f.html_url,
            "status": f.status, "moved_to": f.moved_to, "last_fetch": f.last_fetch,
            "last_success": f.last_success, "last_status": f.last_status,
            "error": f.error_message, "error_kind": f.error_kind, "failures": f.failures,
            "error_since": f.error_since, "next_due": f.next_due, "entries": f.entry_count,
            "interval": f.interval, "push": _push_json(sub)}


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
    subs = {s.feed_url: s for s in app.store.subscriptions()}
    now = app.clock()
    if fmt == "json":
        _json([_feed_json(f, subs.get(f.url)) for f in found])
        return
    tz = app.settings.tz
    folder = None
    for f in found:
        if f.folder != folder:
            folder = f.folder
            click.echo(click.style(f"{folder or '(no folder)'}/", bold=True))
        status = f.status
        color = _STATUS_COLORS.get(status)
        click.echo(f"  {click.style(status.ljust(7), fg=color)} {f.name}  <{f.url}>"
                   f"  {f.entry_count} entries")
        if f.failures:
            click.echo(f"          {f.error_kind}: {f.error_message} "
                       f"(x{f.failures} since {_when(f.error_since, tz)})")
        if f.moved_to:
            click.echo(f"          moved to {f.moved_to}")
        if f.url in subs:
            click.echo(f"          {describe(subs[f.url], app.settings.websub.enabled, tz, now)}")


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
