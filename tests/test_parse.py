"""Golden files for the parser: each feed in tests/golden/ next to the JSON it must give.

Regenerate after an intended change with VEILLE_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from veille.parse import ParseFailure, parse_feed

GOLDEN = Path(__file__).parent / "golden"
FEEDS = sorted(p for p in GOLDEN.iterdir() if p.suffix in (".xml", ".rdf", ".jsonfeed"))


def as_json(path: Path) -> dict:
    headers = {"content-type": "application/xml"}
    parsed = parse_feed(f"https://{path.stem}.example/feed", path.read_bytes(), headers)
    assert not isinstance(parsed, ParseFailure), parsed
    data = asdict(parsed)
    data["entries"] = [{**_without_empty_outlet(e), "content_hash": parsed.entries[i].content_hash}
                       for i, e in enumerate(data["entries"])]
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def _without_empty_outlet(entry: dict) -> dict:
    """The outlet fields appear only where an aggregator credits one (googlenews.xml), so the
    goldens of plain feeds stay as they were before outlets existed. The item fingerprint is
    left out: it changes with the parser's and sanitizer's versions (entry_fingerprint.py)."""
    entry = {k: v for k, v in entry.items() if k != "fingerprint"}
    if entry.get("outlet") is None and entry.get("outlet_url") is None:
        return {k: v for k, v in entry.items() if k not in ("outlet", "outlet_url")}
    return entry


@pytest.mark.parametrize("path", FEEDS, ids=[p.name for p in FEEDS])
def test_golden(path: Path):
    expected_file = path.with_suffix(".json")
    actual = as_json(path)
    if os.environ.get("VEILLE_UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(actual, ensure_ascii=False, indent=2) + "\n")
    assert actual == json.loads(expected_file.read_text())


def test_every_format_is_covered():
    assert [p.name for p in FEEDS] == ["atom03.xml", "atom10.xml", "googlenews.xml",
                                       "jsonfeed10.jsonfeed",
                                       "jsonfeed11.jsonfeed", "rss091.xml", "rss10.rdf",
                                       "rss20.xml"]


@pytest.mark.parametrize("body, message", [
    (b"<html><body>Pas un flux</body></html>", "not a feed"),
    (b"", "not a feed"),
    (b"\x00\xff\xfe garbage", "not a feed"),
])
def test_not_a_feed(body, message):
    result = parse_feed("https://x.example/", body, {"content-type": "text/html"})
    assert isinstance(result, ParseFailure) and message in result
