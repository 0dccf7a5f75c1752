"""The closed vocabularies of a poll: what a fetch, a feed's pass and a feed's health can be.

Each is a `StrEnum` whose values are the strings stored in SQLite and printed in JSON, so a
member is written, compared and serialised exactly as the plain string it replaces. A new
value is added here, once, and then every producer, the store, `status` and metrics labels
agree on it.
"""

from __future__ import annotations

from enum import StrEnum


class FeedStatus(StrEnum):
    """A feed's health as `feeds list` and `status` show it (derived by `FeedState.status`)."""

    OK = "ok"
    FAILING = "failing"
    GONE = "gone"  # answered 410 for this outline
    NEW = "new"  # never fetched successfully
    REMOVED = "removed"  # no longer in feeds.opml; its entries are kept


class FetchStatus(StrEnum):
    """What one conditional GET came to (`FetchResult.status`)."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    GONE = "gone"
    DEFERRED = "deferred"  # not asked at all: its host said Retry-After


class OutcomeStatus(StrEnum):
    """What one feed's turn in a pass did (`FeedOutcome.status`), for summaries and progress."""

    OK = "ok"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    GONE = "gone"
    DEFERRED = "deferred"


class ErrorKind(StrEnum):
    """Why a feed failed (`error_kind`), stored on the feed and shown next to its message."""

    # the network and HTTP (fetch.py)
    TIMEOUT = "timeout"
    CONNECT = "connect"
    URL = "url"
    PROTOCOL = "protocol"
    NETWORK = "network"
    REDIRECT = "redirect"
    HTTP = "http"
    TOO_LARGE = "too_large"
    DECODING = "decoding"
    GONE = "gone"
    PRIVATE_ADDRESS = "private_address"  # refused by [fetch] allow_private = false
    # the body (schedule.after_fetch, when parsing found no feed)
    PARSE = "parse"
    NOT_A_FEED = "not_a_feed"  # an HTML page; its error_message names the feeds it advertises
    # our side, not the feed's: the parser process, or a bug caught by the pass
    PARSE_TIMEOUT = "parse_timeout"
    PARSER_CRASH = "parser_crash"
    INTERNAL = "internal"


class HealthState(StrEnum):
    """Whether a feed still informs its reader (health.assess): one alert on entering a state
    other than ok, one on coming back to ok, none while it lasts."""

    OK = "ok"
    BROKEN = "broken"  # failing for [health] broken_after and at least 3 polls in a row
    STALE = "stale"  # silent for several times its usual gap between entries
    GONE = "gone"  # 410
    MOVED = "moved"  # 301/308: the OPML should say the new address
    NOT_A_FEED = "not_a_feed"  # an HTML page instead of a feed


def as_error_kind(value: str | None) -> ErrorKind | str | None:
    """A stored error_kind as its member; a value this version does not know (written by a
    newer one, or by hand) stays the plain string rather than making the feed unreadable."""
    if value is None:
        return None
    try:
        return ErrorKind(value)
    except ValueError:
        return value
