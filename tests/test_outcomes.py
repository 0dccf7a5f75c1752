"""The closed vocabularies: their values are what SQLite stores and JSON prints, so they must
not drift; a value read back that this version does not know must not crash it."""

from __future__ import annotations

import ast
import json
import re
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import veille
from veille import errors
from veille.models import FeedOutcome, FeedSource, FeedState, FetchResult, PassSummary
from veille.outcomes import ErrorKind, FeedStatus, FetchStatus, OutcomeStatus, as_error_kind
from veille.store import Store

from .conftest import FeedServer, Workspace, rss

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SRC = Path(veille.__file__).parent


def values(enum: type) -> set[str]:
    return {str(m.value) for m in enum}


def test_values_are_the_stored_and_printed_strings():
    # written out literally: renaming a value changes the database and the JSON, so it fails here
    assert values(FeedStatus) == {"ok", "failing", "gone", "new", "removed"}
    assert values(FetchStatus) == {"ok", "not_modified", "error", "gone", "deferred"}
    assert values(OutcomeStatus) == {"ok", "unchanged", "failed", "gone", "deferred"}
    assert values(ErrorKind) == {
        "timeout", "connect", "url", "protocol", "network", "redirect", "http", "too_large",
        "decoding", "gone", "parse", "parse_timeout", "parser_crash", "internal", "not_a_feed",
        "private_address"}


@pytest.mark.parametrize("enum", [FeedStatus, FetchStatus, OutcomeStatus, ErrorKind])
def test_members_are_their_strings(enum: type):
    for member in enum:
        assert member == member.value and str(member) == f"{member}" == member.value
        assert json.dumps({"s": member}) == json.dumps({"s": member.value})


def test_feed_state_status_is_a_member():
    cases = [(FeedState("u", in_opml=False, gone=True), FeedStatus.REMOVED),
             (FeedState("u", gone=True, failures=1), FeedStatus.GONE),
             (FeedState("u", failures=2, last_success=NOW), FeedStatus.FAILING),
             (FeedState("u", last_success=NOW), FeedStatus.OK),
             (FeedState("u"), FeedStatus.NEW)]
    for state, expected in cases:
        assert state.status is expected


def test_results_and_outcomes_hold_members_and_refuse_unknown_values():
    result = FetchResult("u", "error", error_kind="parser_crash")
    assert result.status is FetchStatus.ERROR and result.error_kind is ErrorKind.PARSER_CRASH
    assert replace(result, error_kind="parse_timeout").error_kind is ErrorKind.PARSE_TIMEOUT
    # the pipeline passes a fetch's "gone"/"deferred" on as the feed's outcome
    assert FeedOutcome("u", FetchStatus.GONE).status is OutcomeStatus.GONE
    with pytest.raises(ValueError):
        FetchResult("u", "timeout")
    with pytest.raises(ValueError):
        FetchResult("u", "error", error_kind="dns")
    with pytest.raises(ValueError):
        FeedOutcome("u", "not_modified")
    summary = PassSummary([FeedOutcome("u", "ok"), FeedOutcome("v", OutcomeStatus.FAILED)])
    assert summary.count("ok") == summary.count(OutcomeStatus.FAILED) == 1
    with pytest.raises(ValueError):
        summary.count("fialed")


def test_error_kinds_round_trip_through_sqlite_as_plain_text():
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f")])
    [feed] = store.feeds()
    store.save_state(replace(feed, failures=1, error_kind=ErrorKind.TOO_LARGE))
    assert store.db.execute("SELECT error_kind, typeof(error_kind) FROM feeds").fetchone() \
        == ("too_large", "text")
    [feed] = store.feeds()
    assert feed.error_kind is ErrorKind.TOO_LARGE


def test_unknown_stored_error_kind_is_kept_as_its_string():
    assert as_error_kind(None) is None
    assert as_error_kind("http") is ErrorKind.HTTP
    store = Store.memory()
    store.sync_feeds([FeedSource("https://f")])
    store.db.execute("UPDATE feeds SET error_kind = 'dns_over_pigeon', failures = 3")
    [feed] = store.feeds()
    assert feed.error_kind == "dns_over_pigeon" and not isinstance(feed.error_kind, ErrorKind)
    assert feed.status is FeedStatus.FAILING
    store.save_state(feed)  # written back as it was read
    assert store.db.execute("SELECT error_kind FROM feeds").fetchone()[0] == "dns_over_pigeon"


def test_cli_json_prints_plain_strings(feed_server: FeedServer, workspace: Workspace):
    bad = feed_server.serve("/500.xml", "boom", status=500)
    good = feed_server.serve("/ok.xml", rss([{"title": "t", "link": "https://ex.fr/1",
                                              "guid": "1"}]))
    odd = feed_server.serve("/odd.xml", rss([]))
    workspace.write_feeds([bad, good, odd])
    workspace.run("fetch")
    with sqlite3.connect(workspace.root / "var" / "veille.db") as db:
        db.execute("UPDATE feeds SET error_kind = 'dns_over_pigeon', failures = 1, "
                   "error_message = 'lost' WHERE url = ?", [odd])
    listed = workspace.run("feeds", "list", "--format", "json").stdout
    assert '"status": "failing"' in listed and '"error_kind": "http"' in listed
    feeds = {f["url"]: f for f in json.loads(listed)}
    assert (feeds[bad]["status"], feeds[bad]["error_kind"]) == ("failing", "http")
    assert (feeds[good]["status"], feeds[good]["error_kind"]) == ("ok", None)
    assert (feeds[odd]["status"], feeds[odd]["error_kind"]) == ("failing", "dns_over_pigeon")
    text = workspace.run("feeds", "list").stdout
    assert "dns_over_pigeon: lost" in text and "http: HTTP 500" in text
    report = json.loads(workspace.run("status", "--format", "json", code=None).stdout)
    assert {k: report["feeds"][k] for k in ("ok", "failing", "gone", "new")} == \
        {"ok": 1, "failing": 2, "gone": 0, "new": 0}
    assert {p["status"] for p in report["feeds"]["problems"]} == {"failing"}


def test_every_error_class_is_raised_and_drawn():
    """errors.py lists only exceptions veille raises (a base counts if others derive from it),
    and the tree in its docstring names exactly those."""
    classes = {name: cls for name, cls in vars(errors).items()
               if isinstance(cls, type) and issubclass(cls, Exception)
               and cls.__module__ == errors.__name__}
    bases = {base.__name__ for cls in classes.values() for base in cls.__mro__[1:]}
    raised = set()
    for path in SRC.rglob("*.py"):
        if path.name != "errors.py":
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                        and isinstance(node.exc.func, ast.Name):
                    raised.add(node.exc.func.id)
    assert {name for name in classes if name not in bases} <= raised
    drawn = set(re.findall(r"^[ \t]+(?:[│├└─ ]+)?([A-Z]\w+Error)\b", errors.__doc__ or "", re.M))
    assert drawn == set(classes)
