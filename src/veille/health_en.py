"""Feed-health alerts and the weekly summary in English (`language = "en"`): the same facts
and advice as health.py's French messages, which stay the default. Pure."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from .health import (
    _SEVERITY,
    Assessment,
    HealthEvent,
    HealthMessage,
    HealthSummary,
    summary_payload,
    webhook_body,
)
from .i18n import format_datetime
from .outcomes import HealthState

_WAS: dict[str, str] = {HealthState.BROKEN: "broken", HealthState.STALE: "silent",
                        HealthState.GONE: "deleted by the site",
                        HealthState.MOVED: "at an old address",
                        HealthState.NOT_A_FEED: "a web page instead of a feed"}
_SECTION = {HealthState.BROKEN: "Broken", HealthState.NOT_A_FEED: "Not a feed",
            HealthState.GONE: "Deleted by the site", HealthState.STALE: "Silent",
            HealthState.MOVED: "Moved"}


def duration(seconds: float) -> str:
    """"45 min", "26 h", "12 days"."""
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def _age(a: Assessment) -> str:
    return duration((a.at - a.since).total_seconds()) if a.since else ""


def _tries(n: int) -> str:
    return f"{n} failed {'poll' if n == 1 else 'polls'}"


def message(a: Assessment) -> str:
    """The one line of the state (the webhook's `message`)."""
    if a.state == HealthState.BROKEN:
        return f"broken for {_age(a)} ({_tries(a.failures)}): {a.error}"
    if a.state == HealthState.STALE:
        usual = f" (usually at most {duration(a.usual_gap)} between two)" if a.usual_gap else ""
        return f"no new article for {_age(a)}{usual}"
    if a.state == HealthState.GONE:
        return "deleted by the site (410 Gone): veille no longer polls it"
    if a.state == HealthState.MOVED:
        return f"moved (permanent redirect): {a.moved_to}"
    if a.state == HealthState.NOT_A_FEED:
        if a.advertised:
            return f"a web page instead of a feed; it advertises {', '.join(a.advertised)}"
        return "a web page instead of a feed, and it advertises none"
    return "works normally"


def _short(a: Assessment) -> str:
    return {HealthState.BROKEN: f"broken for {_age(a)}", HealthState.STALE: f"silent for "
            f"{_age(a)}", HealthState.GONE: "deleted (410)", HealthState.MOVED: "moved",
            HealthState.NOT_A_FEED: "web page, not a feed",
            HealthState.OK: "back to normal"}[a.state]


def advice(a: Assessment) -> str:
    url = a.feed_url
    if a.state == HealthState.BROKEN:
        return ("open the address in a browser. If the site gave its feed a new address, "
                f"replace it: veille feeds move {url} NEW_URL. If the site is down, veille "
                f"keeps trying and will tell you when the feed is back (try now: veille fetch "
                f"--feed {url}).")
    if a.state == HealthState.STALE:
        return ("check on the site that it still publishes. If it has a new feed: veille "
                f"feeds move {url} NEW_URL; if it stopped, remove it: veille feeds remove "
                f"{url}")
    if a.state == HealthState.GONE:
        return (f"remove it (veille feeds remove {url}) or replace it by its successor "
                f"(veille feeds move {url} NEW_URL).")
    if a.state == HealthState.MOVED:
        return ("veille already follows the new address; make the change permanent: "
                f"veille feeds move {url} {a.moved_to}")
    if a.state == HealthState.NOT_A_FEED:
        if a.advertised:
            return ("this address is a page, not its feed. Replace it by the feed it "
                    f"advertises: veille feeds move {url} {a.advertised[0]}")
        return ("look for the site's feed (often /feed or /rss, or an RSS icon), then: "
                f"veille feeds move {url} NEW_URL")
    return "nothing: veille reads this feed again."


def _facts(a: Assessment) -> list[str]:
    lines = []
    if a.state == HealthState.BROKEN and a.error:
        lines.append(f"Last error ({_tries(a.failures)}): {a.error}")
    if a.state == HealthState.STALE and a.usual_gap:
        lines.append(f"Usually: at most {duration(a.usual_gap)} between two articles")
    if a.state == HealthState.MOVED and a.moved_to:
        lines.append(f"New address: {a.moved_to}")
    if a.advertised:
        lines.append(f"Advertised feed{'s' if len(a.advertised) > 1 else ''}: "
                     + ", ".join(a.advertised))
    return lines


def _headline(event: HealthEvent, tz: ZoneInfo) -> str:
    a = event.assessment
    name = f"The feed “{a.feed}”"
    if event.recovered:
        was = _WAS.get(str(event.previous))
        if was is None:
            return f"{name} is back to normal."
        when = (f" since {format_datetime(event.previous_since, tz, 'en')}"
                if event.previous_since else "")
        return f"{name} is back to normal: it was {was}{when}."
    return {HealthState.BROKEN: f"{name} has been broken for {_age(a)}.",
            HealthState.STALE: f"{name} has published no new article for {_age(a)}.",
            HealthState.GONE: f"{name} was deleted by the site (410 Gone): veille no longer "
                              "polls it.",
            HealthState.MOVED: f"{name} moved (permanent redirect).",
            HealthState.NOT_A_FEED: f"{name} leads to a web page, not a feed."}[a.state]


def event_message(event: HealthEvent, tz: ZoneInfo | str) -> HealthMessage:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    a = event.assessment
    lines = [_headline(event, zone), "", f"Address: {a.feed_url}"]
    if a.since and not a.healthy:
        lines.append(f"Since: {format_datetime(a.since, zone, 'en')}")
    lines += [*_facts(a), "", f"What to do: {advice(a)}"]
    if a.state == HealthState.GONE:
        lines += ["", "veille no longer polls it; you will get no other alert for this feed."]
    elif not event.recovered:
        lines += ["", "You will get no other alert for this feed while this lasts; one more "
                      "when it is back."]
    payload: dict[str, Any] = {**webhook_body(event), "message": message(a)}
    return HealthMessage(event.id, "health", f"[veille] HEALTH — {a.feed}: {_short(a)}",
                         "\n".join(lines) + "\n", payload, a.at)


def summary_message(summary: HealthSummary, tz: ZoneInfo | str) -> HealthMessage:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    n = len(summary.unhealthy)
    when = format_datetime(summary.generated_at, zone, "en")
    if not n:
        subject = "[veille] HEALTH — weekly summary: every feed works"
        text = f"Feed health on {when}: all {summary.total} feeds work.\n"
    else:
        subject = f"[veille] HEALTH — weekly summary: {n} feeds to look at"
        lines = [f"Feed health on {when}: {n} of {summary.total} feeds need a look."]
        for state in _SEVERITY:
            group = [a for a in summary.unhealthy if a.state == state]
            if group:
                lines += ["", f"{_SECTION[state].upper()} ({len(group)})"]
            for a in group:
                since = f" (from {format_datetime(a.since, zone, 'en')})" if a.since else ""
                lines += ["", f"• {a.feed} — {_short(a)}{since}", f"  {a.feed_url}",
                          *(f"  {fact}" for fact in _facts(a)), f"  What to do: {advice(a)}"]
        text = "\n".join(lines) + "\n"
    payload = summary_payload(summary)
    payload["feeds"] = [{**f, "message": message(a)}
                        for f, a in zip(payload["feeds"], summary.unhealthy, strict=True)]
    return HealthMessage(summary.id, "health_summary", subject, text, payload,
                         summary.generated_at)
