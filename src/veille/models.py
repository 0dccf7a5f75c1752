"""Plain data passed between the stages, named after the stage that makes them.

    opml      -> FeedSource      what the user asked to watch
    fetch     -> FetchResult     what the server answered
    parse     -> ParsedFeed / ParsedEntry
    store     -> FeedState / StoredEntry
    match     -> MatchResult     (watchlist, entry, terms, snippet)
    pipeline  -> FeedOutcome / PassSummary
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .outcomes import ErrorKind, FeedStatus, FetchStatus, OutcomeStatus


@dataclass(frozen=True)
class FeedSource:
    """One feed outline of the OPML file."""

    url: str
    title: str = ""
    folder: str = ""  # nested folders joined with "/"
    html_url: str = ""
    interval: float | None = None  # seconds; overrides [fetch] interval

    @property
    def fingerprint(self) -> str:
        """Changes when the user edits the outline: a gone feed is retried after such an edit."""
        raw = "\x1f".join([self.url, self.title, self.folder, self.html_url, str(self.interval)])
        return hashlib.sha1(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one conditional GET: ok, not_modified, error, gone, or deferred (not
    asked at all, because its host said Retry-After).

    `error_kind` may also be a string no ErrorKind names (read back from a newer version's
    database): it is kept as it is rather than making the feed unreadable.
    """

    url: str
    status: FetchStatus
    http_status: int | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str | None = None
    moved_to: str | None = None  # set by a permanent redirect (301/308)
    error_kind: ErrorKind | str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        # a misspelt status raises here, at its producer, not as a silent miscount later
        object.__setattr__(self, "status", FetchStatus(self.status))
        if self.error_kind is not None:
            object.__setattr__(self, "error_kind", ErrorKind(self.error_kind))

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


@dataclass(frozen=True)
class ParsedEntry:
    key: str  # identity within the feed: guid, else link, else hash of title and content
    guid: str | None
    title: str
    link: str | None
    author: str | None
    published: datetime | None
    updated: datetime | None
    summary_html: str
    summary_text: str
    content_html: str
    content_text: str
    categories: tuple[str, ...] = ()
    language: str | None = None
    outlet: str | None = None  # the publisher an aggregator credits (outlets.py)
    outlet_url: str | None = None
    # the raw item's fingerprint (entry_fingerprint.py) when the fast reader read it: kept
    # by the store, so that the next parse of the feed can leave the item unread
    fingerprint: str | None = field(default=None, compare=False)

    @property
    def content_hash(self) -> str:
        """Volatile fields (dates) are left out: a re-dated but identical entry is unchanged."""
        raw = "\x1f".join(
            [self.title, self.link or "", self.author or "", self.summary_html, self.content_html,
             "\x1e".join(self.categories)]
        )
        return hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str | None
    language: str | None
    ttl: float | None  # seconds: RSS <ttl> or sy:updatePeriod/updateFrequency
    entries: tuple[ParsedEntry, ...]
    warning: str | None = None  # feedparser's bozo exception, when entries were still recovered
    parser: str = ""  # which parser, at which version, made these entries (see PARSER_ID)
    links: tuple[tuple[str, str], ...] = ()  # (rel, href) of the feed's hub and self links


@dataclass(frozen=True)
class FeedState:
    """A feed as the store knows it: the OPML fields plus fetch state for scheduling."""

    url: str
    title: str = ""
    folder: str = ""
    html_url: str = ""
    interval: float | None = None
    fingerprint: str = ""
    in_opml: bool = True
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    last_status: int | None = None
    error_kind: ErrorKind | str | None = None  # a str only for a kind this version does not know
    error_message: str | None = None
    failures: int = 0
    error_since: datetime | None = None
    moved_to: str | None = None
    gone: bool = False
    next_due: datetime | None = None
    max_age: float | None = None
    ttl: float | None = None
    feed_title: str | None = None  # the title the feed gives itself
    site_link: str | None = None
    entry_count: int = 0

    @property
    def status(self) -> FeedStatus:
        """removed (from the OPML), gone (410), failing, new (never fetched) or ok."""
        if not self.in_opml:
            return FeedStatus.REMOVED
        if self.gone:
            return FeedStatus.GONE
        if self.failures:
            return FeedStatus.FAILING
        return FeedStatus.OK if self.last_success else FeedStatus.NEW

    @property
    def name(self) -> str:
        """What to call the feed: the user's title, else the feed's own, else its URL."""
        user_title = self.title if self.title != self.url else ""
        return user_title or self.feed_title or self.url

    @property
    def fetch_url(self) -> str:
        return self.moved_to or self.url

    @property
    def never_fetched(self) -> bool:
        return self.last_success is None


@dataclass(frozen=True)
class StoredEntry:
    id: int
    feed_url: str
    feed_title: str
    key: str
    title: str
    link: str | None
    author: str | None
    published: datetime  # never None: an undated entry counts as published when first seen
    updated: datetime | None
    summary_text: str
    content_text: str
    summary_html: str
    content_html: str
    categories: tuple[str, ...]
    language: str | None
    first_seen: datetime
    changed_at: datetime | None
    changes: int
    dated: bool = True  # False when the feed gave no date
    outlet: str | None = None  # the publisher an aggregator credits (outlets.py)
    outlet_url: str | None = None

    @property
    def source_name(self) -> str:
        """Who published it: the credited outlet, else the feed."""
        return self.outlet or self.feed_title or self.feed_url


def stored_entry(entry_id: int, feed_url: str, feed_name: str, e: ParsedEntry,
                published: datetime, dated: bool, first_seen: datetime,
                changed_at: datetime | None, changes: int) -> StoredEntry:
    """The entry as stored from its parse: the store's plan, and the parser processes'
    matching (prepare.py), which reads it so too."""
    return StoredEntry(
        id=entry_id, feed_url=feed_url, feed_title=feed_name or feed_url, key=e.key,
        title=e.title, link=e.link, author=e.author,
        published=published, updated=e.updated,
        summary_text=e.summary_text, content_text=e.content_text, summary_html=e.summary_html,
        content_html=e.content_html, categories=e.categories, language=e.language,
        first_seen=first_seen, changed_at=changed_at,
        changes=changes, dated=dated, outlet=e.outlet, outlet_url=e.outlet_url)


@dataclass(frozen=True)
class StoredMatch:
    """A watchlist's match as stored: the entry, the terms found, a snippet around the first."""

    id: int
    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    matched_at: datetime
    silent: bool
    entry: StoredEntry
    story_id: int | None = None  # the story the entry was grouped into at ingest (stories.py)


@dataclass(frozen=True)
class OpenBatch:
    """Matches put together for one channel and not yet accepted by it."""

    id: str
    watchlist: str
    channel: str
    match_ids: tuple[int, ...]
    attempts: int
    next_attempt: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class FeedOutcome:
    """What one feed's fetch did, for the pass summary and the progress display."""

    url: str
    status: OutcomeStatus
    new_entries: int = 0
    updated_entries: int = 0
    new_matches: int = 0
    message: str | None = None
    moved_to: str | None = None
    fetch_seconds: float | None = None  # the HTTP exchange alone; None when none took place
    matched: tuple[str, ...] = ()  # the watchlist of each new match that alerts (not silent)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", OutcomeStatus(self.status))

    @property
    def failing(self) -> bool:
        """The feed did not deliver its entries: an error, or gone (410)."""
        return self.status in (OutcomeStatus.FAILED, OutcomeStatus.GONE)


@dataclass(frozen=True)
class Notice:
    """An alert that is not a digest (a spike, a feed's health change, the weekly summary):
    a French subject and text for people, and the JSON body a webhook receives (it carries
    `id` and `kind`). Queued and sent by notices.NoticeBox."""

    id: str
    kind: str  # spike | health | health_summary | report
    subject: str
    text: str
    payload: Mapping[str, Any]
    generated_at: datetime
    html: str = ""  # a report: its HTML for email, charts referenced as cid:NAME…
    images: tuple[tuple[str, bytes], ...] = ()  # …and the (NAME, PNG) they point at


@dataclass
class PassSummary:
    outcomes: list[FeedOutcome] = field(default_factory=list)

    def count(self, *statuses: OutcomeStatus) -> int:
        """Outcomes of these statuses; a misspelt one raises rather than counting 0."""
        wanted = {OutcomeStatus(s) for s in statuses}
        return sum(1 for o in self.outcomes if o.status in wanted)

    @property
    def new_entries(self) -> int:
        return sum(o.new_entries for o in self.outcomes)

    @property
    def updated_entries(self) -> int:
        return sum(o.updated_entries for o in self.outcomes)

    @property
    def new_matches(self) -> int:
        return sum(o.new_matches for o in self.outcomes)
