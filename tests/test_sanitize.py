"""clean_html gives what nh3.clean gives, and spares nh3 the texts it would not change: no
markup, or plain paragraphs and emphasis."""

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


_WORDS = ["Nestlé", " ", "\n", "\t", "’", "«", "œ", "\u2028", "\U0001F600", '"', "=", "\x0c",
          "\x01", "<br>"]
_MISSES = ["<br/>", "</br>", "<P>", "<p >", "<b class=x>", "<a href=x>", "</a>", "</p>", "<p>",
           "</b>", "<i>", "<", ">", "\ufeff", "&", "&amp;", "\xa0", "\r", "\x00"]


def _nested(rng: random.Random, depth: int, in_p: bool = False) -> str:
    """Text with emphasis (and paragraphs, one deep) nested properly, `depth` levels at most."""
    parts = []
    for _ in range(rng.randint(0, 4)):
        if depth and rng.random() < 0.3:
            tag = rng.choice(["b", "i", "em", "strong", "b", "i", "em", "strong", "p"])
            if tag == "p" and in_p:
                tag = "b"
            inner = _nested(rng, depth - 1, in_p or tag == "p")
            parts.append(f"<{tag}>{inner}</{tag}>")
        else:
            parts.append(rng.choice(_WORDS))
    return "".join(parts)


def _random_markup(n: int) -> list[str]:
    """Paragraphs, emphasis and text as nh3 may leave them; half of them with a near miss
    inserted somewhere (a tag it rewrites or that closes nothing, a character it changes)."""
    rng = random.Random(11)
    texts = []
    for i in range(n):
        parts = [f"<p>{_nested(rng, 3, True)}</p>" if rng.random() < 0.5 else _nested(rng, 3)
                 for _ in range(rng.randint(0, 3))]
        text = "".join(parts)
        if i % 2:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(_MISSES) + text[at:]
        texts.append(text)
    return texts


def test_clean_html_is_nh3_on_random_markup() -> None:
    texts = _random_markup(30_000)
    left = [t for t in texts if sanitize._left_as_is(t)]
    assert sum("<p>" in t or "<b>" in t for t in left) > 1000  # the case is exercised
    assert [clean_html(t) for t in texts] == [nh3.clean(t) for t in texts]


def test_plain_text_and_plain_paragraphs_are_not_handed_to_nh3(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(sanitize.nh3, "clean", lambda html: calls.append(html) or html)
    for kept in ("Nestlé rachète L’Oréal : « c’est fait »",
                 "<p>Nestlé <b>rachète</b> L’Oréal</p>\n<p>« c’est <em>fait</em> »<br></p>"):
        assert clean_html(kept) == kept
    assert calls == []
    for changed in ("Nestlé&nbsp;rachète", "<p>Nestlé <p>rachète</p>",  # the first p closes
                    "<p>Nestlé <b>rachète</p></b>", "<b>Nestlé</b></p>", "<br/>Nestlé",
                    "<P>Nestlé</P>", '<p class="x">Nestlé</p>', "<a href=x>Nestlé</a>",
                    "Nestlé <b>rachète", "3 > 2", "\ufeff<p>Nestlé</p>"):
        clean_html(changed)
    assert len(calls) == 11
