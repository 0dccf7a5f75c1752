"""The shortcuts story grouping takes for speed say exactly what the plain code said: the
index keys read from signature bytes, the postings restore() builds in one pass, the
substring search that replaced a regex in story_names, and the stop-word marker."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import timedelta

from veille.stories import Features, StoryConfig, StoryIndex, features
from veille.story_names import _in_lower_case, _whole_word
from veille.story_signature import _STOPWORDS, index_keys, key_run

from .test_stories import PAIRS, _stream


def _index_state(index: StoryIndex) -> tuple[dict, dict, list]:
    return index._postings, index._links, sorted(index._ages)


def test_restore_rebuilds_the_index_the_live_one_holds() -> None:
    """Postings, links and ages as a live index left them after entries joined stories,
    left the window and were pushed out by max_entries: restore() builds them in one pass
    over the kept rows, without replaying what left."""
    for config in (StoryConfig(), StoryConfig(max_entries=60),
                   StoryConfig(window=timedelta(hours=40))):
        live, rows = StoryIndex(config), []
        for entry_id, item, at in _stream(450):
            rows.append(live.add(entry_id, item["title"], item["summary"], item["link"], at))
        assert sum(not r.new_story for r in rows) > 20
        restored = StoryIndex.restore(random.Random(1).sample(rows, len(rows)), config)
        assert restored.rows() == live.rows()
        assert _index_state(restored) == _index_state(live)


def test_index_keys_read_from_bytes_are_the_decoded_keys() -> None:
    items = [p[side] for p in PAIRS[:60] for side in "ab"]
    for item in items:
        feats = features(item["title"], item["summary"])
        signature = feats.signature()
        assert index_keys(signature) == feats.keys() == Features.from_signature(signature).keys()
        v2 = replace(feats, names=())
        old = bytes((2, 0, len(v2.title), len(v2.numbers))) + v2.signature()[8:]
        assert index_keys(old) == v2.keys()
        assert set(key_run(signature)) - {0} == feats.keys()
    assert index_keys(b"") == index_keys(b"\x63junk") == index_keys(b"\x03\x00\x00") == set()


def test_whole_word_search_agrees_with_the_regex_it_replaced() -> None:
    rng = random.Random(5)
    alphabet = "dows xé_-'’ 1Dça."
    for _ in range(4000):
        word = "".join(rng.choice("dowsxé") for _ in range(rng.randint(1, 3)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        expected = re.search(rf"(?<!\w){re.escape(word)}[sx]?(?!\w)", text) is not None
        assert _whole_word(word, text) == expected, (word, text)


def test_lower_case_prefix_search_agrees_with_one_search_per_separator() -> None:
    rng, found = random.Random(6), 0
    for _ in range(4000):
        token = rng.choice(("Grèves", "Disparition", "GRÈVE-x"))
        prefix = token[:6].lower()
        parts = [rng.choice((prefix, prefix[:3], "'", "’", "(", "-", " ", "x", "_")) for _ in
                 range(rng.randint(0, 8))]
        text = " " + "".join(parts)
        expected = any(f"{before}{prefix}" in text for before in " '’(-")
        assert _in_lower_case(token, text) == expected, (token, text)
        found += expected
    assert 500 < found < 3500

def test_stop_words_are_alphabetic() -> None:
    """features() takes every word with a digit for a number without asking whether it is
    a stop word: none is."""
    assert all(w.isalpha() for w in _STOPWORDS)
