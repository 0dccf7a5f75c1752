"""The numbers of a report: per watchlist, its mentions per day, spike episodes, share of
voice, top outlets and top stories; and the feeds whose health needs a look.

The counting is pure (`summarize`, `share_of_voice`, `health_rows`: data and a zone in,
dataclasses out); `gather` is the one function that reads the store, and it asks only a
handful of queries whatever the number of watchlists.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .. import spikes
from ..config import Settings
from ..digest import UNTITLED, shown_link
from ..health import Assessment, assess_all
from ..outcomes import HealthState
from ..spikes import SpikeState
from ..store import Store
from ..store.reports import StoryCount, StoryHead
from ..watchlists import Watchlist

#: Outlets and stories shown per watchlist; feeds listed in the health table at most.
TOP = 10
HEALTH_ROWS = 50


@dataclass(frozen=True)
class DayCount:
    day: date  # in the user's time zone
    mentions: int  # articles
    stories: int  # stories first published that day


@dataclass(frozen=True)
class OutletCount:
    feed: str
    feed_url: str
    mentions: int


@dataclass(frozen=True)
class TopStory:
    title: str
    link: str | None
    feed: str  # the outlet that published it first
    outlets: int  # how many outlets carried it (an aggregator's credited ones apart)
    mentions: int  # its articles
    published: datetime  # its first article's date


@dataclass(frozen=True)
class EpisodeMark:
    started_at: datetime
    ended_at: datetime | None  # None: still going at the end of the period
    peak_count: int
    peak_factor: float


@dataclass(frozen=True)
class WatchlistReport:
    name: str
    description: str
    mentions: int
    stories: int
    by_day: tuple[DayCount, ...]
    top_outlets: tuple[OutletCount, ...]
    top_stories: tuple[TopStory, ...]
    episodes: tuple[EpisodeMark, ...] = ()
    share: float = 0.0  # of the mentions of all the watchlists of the report


@dataclass(frozen=True)
class FeedHealthRow:
    feed: str
    feed_url: str
    state: str  # a HealthState value
    since: datetime | None
    detail: str  # health.py's French line; reports in English show the state and error only
    error: str | None = None


@dataclass(frozen=True)
class FeedHealth:
    total: int
    healthy: int
    rows: tuple[FeedHealthRow, ...]  # the feeds not ok, the most pressing first
    more: int = 0  # not ok, beyond the rows shown


@dataclass(frozen=True)
class Report:
    id: str
    generated_at: datetime
    since: datetime
    until: datetime
    timezone: str
    language: str
    watchlists: tuple[WatchlistReport, ...]
    health: FeedHealth
    spike_watchlists: frozenset[str] = frozenset()  # those whose spikes are watched

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def mentions(self) -> int:
        return sum(w.mentions for w in self.watchlists)

    @property
    def days(self) -> int:
        return max(1, round((self.until - self.since).total_seconds() / 86400))


# --- pure counting -----------------------------------------------------------------------------

def local_days(since: datetime, until: datetime, tz: ZoneInfo) -> list[date]:
    """Every local day the period touches, in order."""
    first, last = since.astimezone(tz).date(), until.astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def ranked_stories(stories: Sequence[StoryCount], top: int = TOP) -> list[StoryCount]:
    """The `top` stories: the most outlets first, then the most articles, then the earliest
    (a story every outlet picked up is the one people heard)."""
    return sorted(stories, key=lambda s: (-s.outlets, -s.mentions, s.first_published,
                                          s.story))[:top]


def summarize(name: str, description: str, hourly: Iterable[tuple[datetime, int]],
              stories: Sequence[StoryCount], outlets: Iterable[tuple[str, str | None, int]],
              days: Sequence[date], tz: ZoneInfo, titles: Mapping[str, str],
              heads: Mapping[int, StoryHead], episodes: Sequence[EpisodeMark] = (),
              top: int = TOP) -> WatchlistReport:
    """One watchlist's part of the report from its counts of the period: articles per UTC
    hour, its stories, articles per (feed URL, credited outlet). `titles`: feed names by URL;
    `heads`: the first
    article of the stories to show, by entry id."""
    per_day: Counter[date] = Counter()
    for hour, n in hourly:
        per_day[hour.astimezone(tz).date()] += n
    new_stories = Counter(s.first_published.astimezone(tz).date() for s in stories)
    by_day = tuple(DayCount(d, per_day[d], new_stories[d]) for d in days)
    shown = []
    for s in ranked_stories(stories, top):
        head = heads.get(s.first_entry)
        title = head.title if head and head.title else UNTITLED  # translated when rendered
        link = shown_link(head.link) if head else None
        source = head.outlet if head and head.outlet else titles.get(s.first_feed) or s.first_feed
        shown.append(TopStory(title, link, source, s.outlets, s.mentions, s.first_published))
    return WatchlistReport(name, description, sum(per_day.values()), len(stories), by_day,
                           top_outlets(outlets, titles, top), tuple(shown), tuple(episodes))


def top_outlets(outlets: Iterable[tuple[str, str | None, int]], titles: Mapping[str, str],
                top: int) -> tuple[OutletCount, ...]:
    """The outlets with the most articles. An aggregator's articles count for the publisher
    it credits (Google News' "Le Figaro"), not for the aggregator's feed; `feed_url` is then
    the feed that carried most of them."""
    totals: Counter[str] = Counter()
    feeds: dict[str, Counter[str]] = defaultdict(Counter)
    for url, outlet, n in outlets:
        name = outlet or titles.get(url) or url
        totals[name] += n
        feeds[name][url] += n
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return tuple(OutletCount(name, feeds[name].most_common(1)[0][0], n) for name, n in ranked)


def share_of_voice(reports: Sequence[WatchlistReport]) -> list[WatchlistReport]:
    """Each watchlist's part of the mentions of those shown together (Nestlé vs Danone)."""
    total = sum(w.mentions for w in reports)
    return [replace(w, share=w.mentions / total if total else 0.0) for w in reports]


_ORDER = {HealthState.BROKEN: 0, HealthState.NOT_A_FEED: 1, HealthState.GONE: 2,
          HealthState.STALE: 3, HealthState.MOVED: 4}


def health_rows(assessments: Sequence[Assessment], limit: int = HEALTH_ROWS) -> FeedHealth:
    """The feeds that are not ok, the most pressing first and the longest-suffering first."""
    sick = [a for a in assessments if not a.healthy]
    sick.sort(key=lambda a: (_ORDER.get(a.state, 9), a.since or a.at, a.feed))
    rows = tuple(FeedHealthRow(a.feed, a.feed_url, str(a.state), a.since, a.message, a.error)
                 for a in sick[:limit])
    return FeedHealth(len(assessments), len(assessments) - len(sick), rows,
                      max(0, len(sick) - limit))


def report_id(names: Iterable[str], since: datetime, until: datetime) -> str:
    """Stable for the same watchlists and period: a retried send carries the same id."""
    text = "\x1f".join([*names, since.isoformat(), until.isoformat()])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- the edge: what the store holds ----------------------------------------------------------

def episodes_of(store: Store, watchlists: Sequence[Watchlist], since: datetime, now: datetime,
                tz: ZoneInfo) -> dict[str, list[EpisodeMark]]:
    """Spike episodes of the period, replayed by spikes.py on each watchlist's stories; the
    baseline relearnt daily over a short period, weekly over a long one (90 days x 20 lists
    relearnt daily cost 10 s)."""
    relearn = 24 if now - since <= timedelta(days=14) else 24 * 7
    active = [w for w in watchlists if w.spike.enabled]
    start = min(since, now) - timedelta(days=spikes.BASELINE_DAYS + 1)
    stories = store.watchlist_stories([w.name for w in active], start)
    out: dict[str, list[EpisodeMark]] = {}
    for w in active:
        mine = stories.get(w.name, [])
        state = store.spike_state(w.name) or SpikeState()
        history = spikes.History(spikes.hourly_counts(mine),
                                 state.watching_since or (mine[0].at if mine else now))
        replayed = spikes.past_episodes(history, since, now, w.spike, tz, relearn)
        out[w.name] = [EpisodeMark(e.started_at, e.ended_at, e.peak_count, e.peak_factor)
                       for e in replayed]
    return out


def gather(store: Store, watchlists: Sequence[Watchlist], settings: Settings, since: datetime,
           now: datetime, top: int = TOP) -> Report:
    """The whole report for `watchlists` over [since, now), in a handful of queries."""
    tz = settings.tz
    names = [w.name for w in watchlists]
    hourly: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for name, hour, n in store.hourly_mentions(names, since, now):
        hourly[name].append((hour, n))
    outlets: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
    for name, url, outlet, n in store.outlet_mentions(names, since, now):
        outlets[name].append((url, outlet, n))
    stories = store.story_counts(names, since, now)
    feeds = store.feeds(all_feeds=True, counts=False)
    titles = {f.url: f.name for f in feeds}
    heads = store.story_heads([s.first_entry for n in names
                               for s in ranked_stories(stories[n], top)])
    episodes = episodes_of(store, watchlists, since, now, tz)
    days = local_days(since, now, tz)
    parts = [summarize(w.name, w.description, hourly[w.name], stories[w.name],
                       outlets[w.name], days, tz, titles, heads, episodes.get(w.name, ()), top)
             for w in watchlists]
    assessments = assess_all([f for f in feeds if f.in_opml], store.entry_histories(),
                             store.health_states(), now, settings.health)
    return Report(report_id(names, since, now), now, since, now, settings.timezone,
                  settings.language, tuple(share_of_voice(parts)), health_rows(assessments),
                  frozenset(episodes))
