"""`veille feeds`: the OPML file, edited atomically, and what the store knows of each feed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import search_feeds
from ..config import FetchSettings
from ..discover import Candidate, Discovery, discover
from ..discover import check as check_feed
from ..errors import DiscoveryError
from ..fetch import Fetcher
from ..models import FeedSource, FeedState
from ..opml import OpmlDocument, export_opml
from ..outcomes import FeedStatus
from ..search_feeds import SearchFeed
from ..units import parse_duration
from ..url_check import http_url_problem
from ..websub import Subscription, describe
from .common import FORMAT, VeilleGroup, _app, _json, _when

#: What feeds.opml (XML) cannot hold in a title or a folder name.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")

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


_SEARCHES = (("google_news", "--google-news"), ("bing_news", "--bing-news"),
             ("mastodon_tag", "--mastodon-tag"), ("reddit", "--reddit"),
             ("youtube_channel", "--youtube-channel"))


def _search_feed(options: dict[str, Any]) -> SearchFeed | None:
    """The feed a search option builds, or None when none was given."""
    given = [(name, flag) for name, flag in _SEARCHES if options[name] is not None]
    if len(given) > 1:
        raise click.UsageError(f"give one of {', '.join(f for _, f in given)}, not several")
    name, flag = given[0] if given else ("", "")
    for option, owner, owner_flag in (("lang", "google_news", "--google-news"),
                                      ("country", "google_news", "--google-news"),
                                      ("instance", "mastodon_tag", "--mastodon-tag")):
        if options[option] is not None and name != owner:  # said, so meant: never ignored
            raise click.UsageError(f"--{option} goes with {owner_flag}")
    if not given:
        return None
    try:
        if name == "google_news":
            return search_feeds.google_news(options[name], options["lang"] or "fr",
                                            options["country"] or "FR")
        if name == "mastodon_tag":
            if not options["instance"]:
                raise click.UsageError("--mastodon-tag needs --instance HOST "
                                       "(e.g. --instance mastodon.social)")
            return search_feeds.mastodon_tag(options[name], options["instance"])
        build: Callable[[str], SearchFeed] = getattr(search_feeds, name)
        return build(options[name])
    except ValueError as e:
        raise click.BadParameter(str(e).split(": ", 1)[-1], param_hint=flag) from None


async def _find(settings: FetchSettings, url: str, search: bool, check: bool) -> Discovery:
    """What to add: the URL as given (--no-check), a checked search feed, or discovery."""
    if not check:
        return Discovery((Candidate(url),), "feed")
    async with Fetcher(settings) as fetcher:
        if search:
            found = await check_feed(fetcher, url)
            if not found.ok:
                raise DiscoveryError(url, f"does not answer as a feed ({found.problem})")
            return Discovery((found,), "feed")
        return await discover(fetcher, url)


@feeds.command("add")
@click.argument("url", required=False)
@click.option("--folder", default="", help='Folder, nested with "/": "presse/régions".')
@click.option("--title", default="", help="Title shown in listings and digests.")
@click.option("--interval", default=None, metavar="DURATION", help="Poll this feed every …")
@click.option("--all", "add_all", is_flag=True, help="Add every feed the page advertises.")
@click.option("--no-check", is_flag=True,
              help="Add the URL as given, without asking whether it answers as a feed.")
@click.option("--google-news", metavar="QUERY", help="A Google News search as a feed.")
@click.option("--lang", help="Google News language.  [default: fr]")
@click.option("--country", help="Google News edition.  [default: FR]")
@click.option("--bing-news", metavar="QUERY", help="A Bing News search as a feed.")
@click.option("--mastodon-tag", metavar="TAG", help="A Mastodon hashtag (with --instance).")
@click.option("--instance", metavar="HOST", help="The Mastodon instance of --mastodon-tag.")
@click.option("--reddit", metavar="QUERY", help="A Reddit search, newest first, as a feed.")
@click.option("--youtube-channel", metavar="ID", help="A YouTube channel's uploads.")
@click.pass_context
def feeds_add(ctx: click.Context, url: str | None, folder: str, title: str,
              interval: str | None, add_all: bool, no_check: bool, **options: Any) -> None:
    """Add a feed to feeds.opml (in place, atomically). URL may be a site's page: veille adds
    the feed it advertises (or finds at /feed, /rss…). What is added is checked first.

    \b
    Examples:
      veille feeds add https://www.mediapart.fr/articles/feed --folder presse
      veille feeds add https://www.lemonde.fr
      veille feeds add --google-news '"parti pirate"' --lang fr --country FR
      veille feeds add --mastodon-tag partipirate --instance mastodon.social
    """
    app = _app(ctx)
    search = _search_feed(options)
    if search is not None and url:
        raise click.UsageError("give a URL or a search option, not both")
    if search is None and not url:
        raise click.UsageError("give a URL, or a search such as --google-news QUERY")
    target = search.url if search else str(url)
    problem = http_url_problem(target)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="URL")
    for value, hint in ((title, "--title"), (folder, "--folder")):
        if value and _CONTROL.search(value):
            raise click.BadParameter("control characters cannot be written in feeds.opml",
                                     param_hint=hint)
    try:
        seconds = parse_duration(interval) if interval else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--interval") from None
    path = app.settings.feeds
    doc = OpmlDocument.load(path) if path.exists() else OpmlDocument.empty(path)
    if any(s.url == target for s in doc.sources()):  # before any request
        click.echo(f"already in {path.name}: {target}")
        return
    found = asyncio.run(_find(app.settings.fetch, target, search is not None, not no_check))
    working = found.working
    chosen = working if add_all else working[:1]
    page = target if found.how != "feed" else ""
    added = []
    for i, c in enumerate(chosen):
        # --title names the first feed only: with --all, the others keep their own titles
        name = (title if i == 0 else "") or (search.title if search else "") or (
            c.title if search else "")
        if doc.add(FeedSource(c.url, name, folder.strip("/"), html_url=page, interval=seconds)):
            added.append(c)
        else:
            click.echo(f"already in {path.name}: {c.url}")
    if added:
        doc.save()
    where = f" to {folder}" if folder else ""
    for c in added:
        via = f" (found on {target})" if page else ""
        click.echo(f"added {c.url}{where}{via}")
    others = [c for c in working if c not in chosen]
    if others:
        named = ", ".join(f"{c.url} ({c.title})" if c.title else c.url for c in others)
        click.echo(f"also found: {named}; add them with --all")
    for c in found.candidates:
        if not c.ok:
            click.echo(f"skipped {c.url}: {c.problem}")


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
    incoming, refused = [], 0
    for source in OpmlDocument.load(file).sources():
        problem = http_url_problem(source.url)
        if problem is None:
            incoming.append(source)
        else:
            refused += 1
            click.echo(f"skipped {source.url!r}: {problem}", err=True)
    path = app.settings.feeds
    doc = OpmlDocument.load(path) if path.exists() else OpmlDocument.empty(path)
    added = doc.merge(incoming)
    if added:
        doc.save()
    skipped = f", {refused} skipped" if refused else ""
    click.echo(f"imported {len(added)} feeds ({len(incoming) - len(added)} already there"
               f"{skipped})")


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
