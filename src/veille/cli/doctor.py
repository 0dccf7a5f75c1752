"""`veille feeds doctor`: the feeds that no longer inform you, and what to do about each."""

from __future__ import annotations

from typing import Any

import click

from ..health import Assessment, assess_all, build_summary
from ..health_en import advice
from ..outcomes import HealthState
from .common import FORMAT, _app, _json, _when


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
            "usual_gap": a.usual_gap, "opml_url": opml_url(a), "advice": advice(a)}


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
        click.echo(f"    to do: {advice(a)}")
    if unhealthy:
        click.echo(f"{len(unhealthy)} of {total} feeds unhealthy")
    else:
        click.echo("the feed is healthy" if total == 1 else f"all {total} feeds healthy")
