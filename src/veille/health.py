"""Feeds that go blind: whether each feed still informs its reader, and what to say when that
changes. Pure: the store hands in the feeds, their recent entries and the state last notified,
and `now` is given.

    store.feeds(), store.entry_histories(), store.health_states()
      -> assess_all(...)             one Assessment per feed of the OPML
      -> transition(record, a)       a HealthEvent on entering a state, and on recovery
      -> event_message(event, tz)    French subject and text, webhook body (a Notice's fields)
      -> store.set_health_state(...) in the transaction that queues the message
    weekly: build_summary(assessments, now) -> summary_message(summary, tz)

A feed is in one state at a time, the most pressing first: gone, not a feed, broken, moved,
stale, ok. An alert goes out when the state changes, never while it lasts, so a feed broken
for a month costs one message, and one more when it works again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .config import HealthSettings
from .models import FeedState
from .outcomes import ErrorKind, HealthState
from .parse_failure import NotAFeed

__all__ = ["Assessment", "EntryHistory", "HealthEvent", "HealthMessage", "HealthRecord",
           "HealthSettings", "HealthState", "HealthSummary", "assess", "assess_all",
           "build_summary", "event_message", "event_subject", "event_text", "stale_after",
           "summary_message", "summary_subject", "summary_text", "transition", "usual_gap",
           "webhook_body"]

#: How many of a feed's latest entries its rhythm is learned from.
HISTORY_ENTRIES = 30
#: Fewer gaps than this (entries at the same moment do not count) and the rhythm is unknown:
#: such a feed is never called stale.
MIN_GAPS = 3
#: The usual gap is the one a reader waits through GAP_QUANTILE of the time (a quantile of
#: gaps weighted by their length): bursts weigh nothing, so a feed that posts ten entries at
#: once, monthly, has a usual gap of a month; a weekday feed's weekend counts, so it is not
#: stale every Monday.
GAP_QUANTILE = 0.75
#: The order of the weekly summary: what costs the most news first.
_SEVERITY = (HealthState.BROKEN, HealthState.NOT_A_FEED, HealthState.GONE, HealthState.STALE,
             HealthState.MOVED)


# --- what the store hands in -------------------------------------------------------------------

@dataclass(frozen=True)
class EntryHistory:
    """A feed's latest entries, as much of its history as staleness needs."""

    published: tuple[datetime, ...]  # the latest HISTORY_ENTRIES entries' dates, newest first
    last_seen: datetime | None  # when veille last saw one of them new (their latest first_seen)

    @property
    def gaps(self) -> tuple[float, ...]:
        """Seconds between consecutive entries, from their publication dates (an undated
        entry is dated when first seen): the feed's own rhythm, even on its first fetch."""
        dates = sorted(self.published, reverse=True)
        return tuple((a - b).total_seconds() for a, b in zip(dates, dates[1:], strict=False))


@dataclass(frozen=True)
class HealthRecord:
    """The state last notified for a feed (store: feed_health)."""

    feed_url: str
    state: HealthState | str  # a str only for a state this version does not know
    since: datetime | None
    notified_at: datetime
    advertised: tuple[str, ...] = ()


# --- the assessment ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Assessment:
    """One feed's health at `at`, with what an alert or `feeds doctor` needs to say about it."""

    feed_url: str
    feed: str  # its name, as digests call it
    state: HealthState
    since: datetime | None  # when the state began, as well as it is known
    message: str  # one French line: "en panne depuis 26 h (7 essais) : HTTP 500 …"
    at: datetime
    moved_to: str | None = None
    advertised: tuple[str, ...] = ()  # the feed links of the page (not_a_feed)
    error: str | None = None  # the last error message, while the feed fails
    error_kind: str | None = None
    failures: int = 0
    usual_gap: float | None = None  # seconds, when the feed's rhythm is known

    @property
    def healthy(self) -> bool:
        return self.state == HealthState.OK


def usual_gap(history: EntryHistory | None) -> float | None:
    """The gap between entries a reader waits through most of the time: the smallest gap
    such that gaps no longer than it span GAP_QUANTILE of the history's time."""
    gaps = sorted(g for g in (history.gaps if history else ()) if g > 0)
    if len(gaps) < MIN_GAPS:
        return None
    wanted, covered = GAP_QUANTILE * sum(gaps), 0.0
    for gap in gaps:
        covered += gap
        if covered >= wanted:
            return gap
    return gaps[-1]


def stale_after(history: EntryHistory | None, settings: HealthSettings) -> float | None:
    """Seconds of silence after which the feed is stale; None when its rhythm is unknown."""
    return _stale_limit(usual_gap(history), settings)


def _stale_limit(gap: float | None, settings: HealthSettings) -> float | None:
    return None if gap is None else max(settings.stale_after_min, settings.stale_factor * gap)


def _broken(feed: FeedState, now: datetime, settings: HealthSettings) -> bool:
    """Failing for long enough AND often enough: a day of backoff is only a few polls, and a
    burst of quick failures is only minutes."""
    return (feed.failures >= settings.broken_polls and feed.error_since is not None
            and (now - feed.error_since).total_seconds() >= settings.broken_after)


def _silent_since(feed: FeedState, history: EntryHistory | None, gap: float | None,
                  now: datetime, settings: HealthSettings, previous: HealthRecord | None
                  ) -> datetime | None:
    """When the feed's last new entry came, if that is long enough ago to call it stale.

    A feed whose entries were all pruned while it was stale stays stale: silence is not
    recovery.
    """
    if history is None or history.last_seen is None:
        if previous is not None and previous.state == HealthState.STALE and feed.entry_count == 0:
            return previous.since
        return None
    limit = _stale_limit(gap, settings)
    if limit is None or (now - history.last_seen).total_seconds() < limit:
        return None
    return history.last_seen


def _page(feed: FeedState) -> NotAFeed | None:
    """The HTML page the feed's address now serves, with the feed links it advertises."""
    if not feed.failures or feed.error_kind != ErrorKind.NOT_A_FEED:
        return None
    return NotAFeed.recognize(feed.error_message) or NotAFeed()


def _diagnose(feed: FeedState, history: EntryHistory | None, gap: float | None, now: datetime,
              settings: HealthSettings, previous: HealthRecord | None
              ) -> tuple[HealthState, datetime | None, tuple[str, ...]]:
    """(state, since, advertised links), the most pressing state first."""
    if feed.gone:
        return HealthState.GONE, feed.error_since or now, ()
    page = _page(feed)
    # a page that links a feed is a wrong address, said at once; one that links none may be
    # a maintenance page, so it waits as long as a broken feed does
    if page is not None and (page.advertised or _broken(feed, now, settings)):
        return HealthState.NOT_A_FEED, feed.error_since or now, page.advertised
    if _broken(feed, now, settings):
        return HealthState.BROKEN, feed.error_since, ()
    if feed.moved_to:
        known = previous.since if previous and previous.state == HealthState.MOVED else None
        return HealthState.MOVED, known or now, ()
    silent = _silent_since(feed, history, gap, now, settings, previous)
    if silent is not None:
        return HealthState.STALE, silent, ()
    return HealthState.OK, None, ()


def assess(feed: FeedState, history: EntryHistory | None, now: datetime,
           settings: HealthSettings, previous: HealthRecord | None = None) -> Assessment:
    """One feed's health. `previous` (the state last notified) keeps the start of a moved
    state, which the feed itself does not record, and of a stale one whose entries are gone."""
    gap = usual_gap(history)
    state, since, advertised = _diagnose(feed, history, gap, now, settings, previous)
    failing = feed.failures > 0
    draft = Assessment(
        feed_url=feed.url, feed=feed.name, state=state, since=since, message="", at=now,
        moved_to=feed.moved_to, advertised=advertised,
        error=feed.error_message if failing else None,
        error_kind=str(feed.error_kind) if failing and feed.error_kind else None,
        failures=feed.failures, usual_gap=gap)
    return _with_message(draft)


def assess_all(feeds: Iterable[FeedState], histories: Mapping[str, EntryHistory],
               records: Mapping[str, HealthRecord], now: datetime, settings: HealthSettings
               ) -> list[Assessment]:
    """Every feed of the OPML at once (feeds removed from it are not watched any more)."""
    return [assess(f, histories.get(f.url), now, settings, records.get(f.url))
            for f in feeds if f.in_opml]


# --- transitions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HealthEvent:
    """A feed entered a state; `previous` is the state it left (ok for a first alert)."""

    assessment: Assessment
    previous: HealthState | str
    previous_since: datetime | None = None

    @property
    def state(self) -> HealthState:
        return self.assessment.state

    @property
    def recovered(self) -> bool:
        return self.assessment.healthy

    @property
    def since(self) -> datetime:
        """When the new state began; a recovery dates from when it was seen."""
        return self.assessment.since or self.assessment.at

    @property
    def id(self) -> str:
        """Stable for one transition (a retried or re-queued alert keeps it): the feed, the
        state and when it began; the new address too, so a second move is a new alert."""
        a = self.assessment
        moved_to = (a.moved_to or "") if a.state == HealthState.MOVED else ""
        raw = "\x1f".join([a.feed_url, str(a.state), self.since.astimezone(UTC).isoformat(),
                           moved_to])
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _as_state(value: HealthState | str | None) -> HealthState | str:
    if value is None:
        return HealthState.OK
    try:
        return HealthState(value)
    except ValueError:
        return value


def transition(previous: HealthRecord | HealthState | str | None, assessment: Assessment
               ) -> HealthEvent | None:
    """The event to notify, if any: one on entering a state other than ok (from ok or from
    another), one on the return to ok, none while a state lasts. No record counts as ok."""
    if isinstance(previous, HealthRecord):
        before, since = _as_state(previous.state), previous.since
    else:
        before, since = _as_state(previous), None
    if assessment.state == before:
        return None
    return HealthEvent(assessment, before, since)


# --- French text, for the people who read the alerts -------------------------------------------

_WAS: dict[str, str] = {HealthState.BROKEN: "en panne", HealthState.STALE: "muet",
        HealthState.GONE: "supprimé par le site", HealthState.MOVED: "à une ancienne adresse",
        HealthState.NOT_A_FEED: "une page web au lieu d'un flux"}
_SECTION = {HealthState.BROKEN: "En panne", HealthState.NOT_A_FEED: "Pas un flux",
            HealthState.GONE: "Supprimés par le site", HealthState.STALE: "Muets",
            HealthState.MOVED: "Déplacés"}


def duree(seconds: float) -> str:
    """"45 min", "26 h", "12 jours": what a reader takes in at a glance."""
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} jours"


def _local(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def _essais(n: int) -> str:
    return f"{n} essai{'s' if n > 1 else ''} en échec"


def _age(a: Assessment) -> str:
    return duree((a.at - a.since).total_seconds()) if a.since else ""


def _message(a: Assessment) -> str:
    """The one French line of the state, for the webhook and the weekly summary."""
    if a.state == HealthState.BROKEN:
        return f"en panne depuis {_age(a)} ({_essais(a.failures)}) : {a.error}"
    if a.state == HealthState.STALE:
        usual = f" (d'habitude, au plus {duree(a.usual_gap)} entre deux)" if a.usual_gap else ""
        return f"aucun nouvel article depuis {_age(a)}{usual}"
    if a.state == HealthState.GONE:
        return "supprimé par le site (410 Gone) : veille ne l'interroge plus"
    if a.state == HealthState.MOVED:
        return f"a changé d'adresse (redirection permanente) : {a.moved_to}"
    if a.state == HealthState.NOT_A_FEED:
        if a.advertised:
            return f"page web au lieu d'un flux ; elle annonce {', '.join(a.advertised)}"
        return "page web au lieu d'un flux, et elle n'annonce aucun flux"
    return "fonctionne normalement"


def _with_message(a: Assessment) -> Assessment:
    return replace(a, message=_message(a))


def _short(a: Assessment) -> str:
    """The end of a subject line."""
    return {HealthState.BROKEN: f"en panne depuis {_age(a)}",
            HealthState.STALE: f"muet depuis {_age(a)}",
            HealthState.GONE: "supprimé (410)",
            HealthState.MOVED: "a changé d'adresse",
            HealthState.NOT_A_FEED: "page web au lieu d'un flux",
            HealthState.OK: "rétabli"}[a.state]


def advice(a: Assessment) -> str:
    """What the reader should do, in French, with the command to type when there is one."""
    url = a.feed_url
    if a.state == HealthState.BROKEN:
        return ("ouvrez l'adresse dans un navigateur. Si le site a changé l'adresse de son "
                f"flux, remplacez-la : veille feeds move {url} NOUVELLE-ADRESSE. Si la panne "
                "vient du site, veille continue d'essayer et vous préviendra quand le flux "
                "sera rétabli.")
    if a.state == HealthState.STALE:
        return ("vérifiez sur le site qu'il publie encore. S'il a un nouveau flux : "
                f"veille feeds move {url} NOUVELLE-ADRESSE ; s'il ne publie plus, retirez-le : "
                f"veille feeds remove {url}")
    if a.state == HealthState.GONE:
        return (f"retirez-le (veille feeds remove {url}) ou remplacez-le par son successeur "
                f"(veille feeds move {url} NOUVELLE-ADRESSE).")
    if a.state == HealthState.MOVED:
        return ("veille suit déjà la nouvelle adresse ; rendez le changement définitif : "
                f"veille feeds move {url} {a.moved_to}")
    if a.state == HealthState.NOT_A_FEED:
        if a.advertised:
            return ("cette adresse est celle d'une page, pas de son flux. Remplacez-la par le "
                    f"flux qu'elle annonce : veille feeds move {url} {a.advertised[0]}")
        return ("cherchez le flux du site (souvent /feed ou /rss, ou une icône RSS), puis : "
                f"veille feeds move {url} NOUVELLE-ADRESSE")
    return "rien : veille lit de nouveau ce flux."


def _facts(a: Assessment) -> list[str]:
    """The lines that tell this state apart: the error, the new address, the usual rhythm."""
    lines = []
    if a.state == HealthState.BROKEN and a.error:
        lines.append(f"Dernière erreur ({_essais(a.failures)}) : {a.error}")
    if a.state == HealthState.STALE and a.usual_gap:
        lines.append(f"D'habitude : au plus {duree(a.usual_gap)} entre deux articles")
    if a.state == HealthState.MOVED and a.moved_to:
        lines.append(f"Nouvelle adresse : {a.moved_to}")
    if a.advertised:
        lines.append(f"Flux annoncé{'s' if len(a.advertised) > 1 else ''} : "
                     + ", ".join(a.advertised))
    return lines


def event_subject(event: HealthEvent) -> str:
    """`[veille] SANTÉ — Le Monde : en panne depuis 26 h`, or `… : rétabli`."""
    return f"[veille] SANTÉ — {event.assessment.feed} : {_short(event.assessment)}"


def _headline(event: HealthEvent, tz: ZoneInfo) -> str:
    a = event.assessment
    name = f"Le flux « {a.feed} »"
    if event.recovered:
        was = _WAS.get(event.previous)
        if was is None:
            return f"{name} est rétabli."
        when = f" depuis le {_local(event.previous_since, tz)}" if event.previous_since else ""
        return f"{name} est rétabli : il était {was}{when}."
    return {HealthState.BROKEN: f"{name} est en panne depuis {_age(a)}.",
            HealthState.STALE: f"{name} n'a publié aucun nouvel article depuis {_age(a)}.",
            HealthState.GONE: f"{name} a été supprimé par le site (410 Gone) : veille ne "
                              "l'interroge plus.",
            HealthState.MOVED: f"{name} a changé d'adresse (redirection permanente).",
            HealthState.NOT_A_FEED: f"{name} mène à une page web, pas à un flux."}[a.state]


def event_text(event: HealthEvent, tz: ZoneInfo | str) -> str:
    """The body of an alert: what happened, the facts, and what to do."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    a = event.assessment
    lines = [_headline(event, zone), "", f"Adresse : {a.feed_url}"]
    if a.since and not a.healthy:
        lines.append(f"Depuis : {_local(a.since, zone)}")
    lines += [*_facts(a), "", f"Que faire : {advice(a)}"]
    if a.state == HealthState.GONE:  # never polled again: no recovery to promise
        lines += ["", "veille ne l'interroge plus ; vous ne recevrez pas d'autre alerte pour "
                      "ce flux."]
    elif not event.recovered:
        lines += ["", "Vous ne recevrez pas d'autre alerte pour ce flux tant que cela dure ; "
                      "une dernière quand il sera rétabli."]
    return "\n".join(lines) + "\n"


def webhook_body(event: HealthEvent) -> dict[str, Any]:
    """{"id", "kind": "health", "generated_at", "feed", "feed_url", "state", "previous",
    "since", "message", "moved_to", "advertised"}."""
    a = event.assessment
    return {"id": event.id, "kind": "health", "generated_at": a.at.isoformat(),
            "feed": a.feed, "feed_url": a.feed_url, "state": str(a.state),
            "previous": str(event.previous), "since": event.since.isoformat(),
            "message": a.message, "moved_to": a.moved_to, "advertised": list(a.advertised)}


@dataclass(frozen=True)
class HealthMessage:
    """An alert ready to queue: the fields of notices.Notice, so `Notice(**vars(message))`."""

    id: str
    kind: str  # health | health_summary
    subject: str
    text: str
    payload: Mapping[str, Any]
    generated_at: datetime


def event_message(event: HealthEvent, tz: ZoneInfo | str) -> HealthMessage:
    return HealthMessage(event.id, "health", event_subject(event), event_text(event, tz),
                         webhook_body(event), event.assessment.at)


# --- the weekly summary -----------------------------------------------------------------------

@dataclass(frozen=True)
class HealthSummary:
    """The feeds that are not ok, the worst first, out of `total` watched."""

    id: str
    generated_at: datetime
    total: int
    unhealthy: tuple[Assessment, ...]

    @property
    def empty(self) -> bool:
        return not self.unhealthy


def build_summary(assessments: Iterable[Assessment], now: datetime) -> HealthSummary:
    """One summary per ISO week: its id is the week's, so building it again the same week
    (a restart) queues nothing new."""
    found = list(assessments)
    order = {state: i for i, state in enumerate(_SEVERITY)}
    unhealthy = sorted((a for a in found if not a.healthy),
                       key=lambda a: (order.get(a.state, len(order)),
                                      a.since or now, a.feed.lower()))
    year, week, _ = now.astimezone(UTC).isocalendar()
    summary_id = hashlib.sha256(f"health_summary\x1f{year}-W{week:02d}".encode()).hexdigest()
    return HealthSummary(summary_id[:32], now, len(found), tuple(unhealthy))


def summary_subject(summary: HealthSummary) -> str:
    n = len(summary.unhealthy)
    if not n:
        return "[veille] SANTÉ — bilan de la semaine : tous les flux fonctionnent"
    return f"[veille] SANTÉ — bilan de la semaine : {n} flux à surveiller"


def summary_text(summary: HealthSummary, tz: ZoneInfo | str) -> str:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    n = len(summary.unhealthy)
    when = _local(summary.generated_at, zone)
    if not n:
        return f"Bilan de santé des flux au {when} : les {summary.total} flux fonctionnent.\n"
    lines = [f"Bilan de santé des flux au {when} : {n} flux sur {summary.total} "
             f"{'est' if n == 1 else 'sont'} à surveiller."]
    for state in _SEVERITY:
        group = [a for a in summary.unhealthy if a.state == state]
        if not group:
            continue
        lines += ["", f"{_SECTION[state].upper()} ({len(group)})"]
        for a in group:
            since = f" (début : {_local(a.since, zone)})" if a.since else ""
            lines += ["", f"• {a.feed} — {_short(a)}{since}", f"  {a.feed_url}",
                      *(f"  {fact}" for fact in _facts(a)), f"  Que faire : {advice(a)}"]
    return "\n".join(lines) + "\n"


def summary_payload(summary: HealthSummary) -> dict[str, Any]:
    """{"id", "kind": "health_summary", "generated_at", "total", "feeds": [{"feed",
    "feed_url", "state", "since", "message", "moved_to", "advertised"}]}."""
    return {"id": summary.id, "kind": "health_summary",
            "generated_at": summary.generated_at.isoformat(), "total": summary.total,
            "feeds": [{"feed": a.feed, "feed_url": a.feed_url, "state": str(a.state),
                       "since": a.since.isoformat() if a.since else None, "message": a.message,
                       "moved_to": a.moved_to, "advertised": list(a.advertised)}
                      for a in summary.unhealthy]}


def summary_message(summary: HealthSummary, tz: ZoneInfo | str) -> HealthMessage:
    return HealthMessage(summary.id, "health_summary", summary_subject(summary),
                         summary_text(summary, tz), summary_payload(summary),
                         summary.generated_at)
