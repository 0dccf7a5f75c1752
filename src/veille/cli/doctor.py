"""`veille feeds doctor`: the feeds that no longer inform you, and what to do about each."""

from __future__ import annotations

from typing import Any

import click

from ..health import Assessment, assess_all, build_summary
from ..outcomes import HealthState
from .common import FORMAT, _app, _json, _when


def advice_en(a: Assessment) -> str:
    """What to do, with the command to type when there is one (the alerts say it in French)."""
    url = a.feed_url
    if a.state == HealthState.MOVED:
        return f"it answers from a new address; make it permanent: veille feeds move {url} {a.moved_to}"
    if a.state == HealthState.NOT_A_FEED:
        if a.advertised:
            return ("this is a web page, not its feed; put the feed it advertises in the OPML: "
                    f"veille feeds move {url} {a.advertised[0]}")
        return ("this is a web page that advertises no feed; find the site's feed (often /feed "
                f"or /rss), then: veille feeds move {url} NEW_URL")
    if a.state == HealthState.GONE:
        return (f"the site removed it (410); remove it (veille feeds remove {url}) or replace it "
                f"(veille feeds move {url} NEW_URL)")
    if a.state == HealthState.BROKEN:
        return ("open the address in a browser; if the feed has a new address: veille feeds move "
                f"{url} NEW_URL; otherwise veille keeps retrying (veille fetch --feed {url} now)")
    if a.state == HealthState.STALE:
        return ("check that the site still publishes; if it has a new feed: veille feeds move "
                f"{url} NEW_URL, if it stopped: veille feeds remove {url}")
    return "nothing"


def opml_url(a: Assessment) -> str | None:
    """The address the OPML should hold instead, when it is known."""
    if a.state == HealthState.MOVED:
        return a.moved_to
    if a.state == HealthState.NOT_A_FEED and a.advertised:
        return a.advertised[0]
    return None


def _doctor_json(a: Assessment) -> dict[str, Any]:
    return {"url": a.feed_url, "title": a.feed, "state": a.state, "since": a.since,
            "error": a.error, "error_kind": a.error_kind, "failures": a.failures,
            "moved_to": a.moved_to, "advertised": list(a.advertised),
            "usual_gap": a.usual_gap, "opml_url": opml_url(a), "advice": advice_en(a)}


@click.command("doctor")
@FORMAT
@click.pass_context
def feeds_doctor(ctx: click.Context, fmt: str) -> None:
    """List the feeds that no longer inform you, and what to do about each.

    broken (failing for [health] broken_after and 3 polls), stale (silent for
    several times its usual gap), gone (410), moved (301/308), not_a_feed (a
    web page: the feed it advertises is shown). Exits 1 when any feed is
    unhealthy, 0 when all are healthy.

    \b
    Example:
      veille feeds doctor --format json
    """
    app = _app(ctx)
    store = app.store
    now = app.clock()
    assessments = assess_all(app.sync_feeds(), store.entry_histories(), store.health_states(),
                             now, app.settings.health)
    unhealthy = list(build_summary(assessments, now).unhealthy)  # the worst first
    if fmt == "json":
        _json([_doctor_json(a) for a in unhealthy])
    else:
        _print(unhealthy, len(assessments), app.settings.tz)
    if unhealthy:
        ctx.exit(1)


def _print(unhealthy: list[Assessment], total: int, tz: Any) -> None:
    for a in unhealthy:
        name = f"{a.feed}  " if a.feed != a.feed_url else ""
        click.echo(f"{click.style(a.state, fg='red', bold=True)}  {name}<{a.feed_url}>")
        polls = f" ({a.failures} failed poll{'s' if a.failures > 1 else ''})" if a.failures else ""
        click.echo(f"    since {_when(a.since, tz)}{polls}")
        if a.error:
            click.echo(f"    last error: {a.error_kind}: {a.error}")
        if url := opml_url(a):
            click.echo(f"    put in the OPML: {url}")
        click.echo(f"    to do: {advice_en(a)}")
    if unhealthy:
        click.echo(f"{len(unhealthy)} of {total} feeds unhealthy")
    else:
        click.echo(f"all {total} feeds healthy")
