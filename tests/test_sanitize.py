"""clean_html gives what nh3.clean gives, and spares nh3 the texts without markup."""

from __future__ import annotations

import random
from pathlib import Path

import nh3
import pytest

from veille import parse, parse_json, sanitize
from veille.sanitize import clean_html

FEEDS = [p for p in (Path(__file__).parent / "golden").iterdir() if p.suffix != ".json"]
FEEDS += sorted((Path(__file__).parent / "data" / "feedparser").rglob("*.xml"))


def _random_texts(n: int) -> list[str]:
    rng = random.Random(7)
    alphabet = ("abcdeéèçœ’«» \n\t.,;:!?'\"-—…0123456789€/=#%"
                "<>&\x00\r\xa0\ufeff\u2028\u200b\U0001F600")
    return [("\ufeff" if rng.random() < 0.05 else "")
            + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            for _ in range(n)]


def test_clean_html_is_nh3_on_random_text() -> None:
    texts = _random_texts(20_000)
    assert sum(not any(c in t for c in "<>&\x00\r\xa0") for t in texts) > 1000
    assert [clean_html(t) for t in texts] == [nh3.clean(t) for t in texts]


@pytest.mark.parametrize("path", FEEDS, ids=lambda p: p.name)
def test_parsed_feeds_are_the_same_as_with_nh3_on_everything(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body, url = path.read_bytes(), f"https://example.org/{path.name}"
    skipped = parse.parse_feed(url, body, {})
    monkeypatch.setattr(parse, "clean_html", nh3.clean)
    monkeypatch.setattr(parse_json, "clean_html", nh3.clean)
    everything = parse.parse_feed(url, body, {})
    if isinstance(skipped, parse.ParsedFeed):
        assert isinstance(everything, parse.ParsedFeed)
        assert skipped.entries == everything.entries
    else:
        assert type(skipped) is type(everything)


def test_plain_text_is_not_handed_to_nh3(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(sanitize.nh3, "clean", lambda html: calls.append(html) or html)
    assert clean_html("Nestlé rachète L’Oréal : « c’est fait »") == (
        "Nestlé rachète L’Oréal : « c’est fait »")
    assert calls == []
    clean_html("Nestlé <b>rachète</b>")
    clean_html("Nestlé&nbsp;rachète")
    assert len(calls) == 2
