"""Story grouping gives the same bytes and the same stories before and after a change.

    python bench/check_story_identity.py [--entries 4000] [--out FILE] [--against FILE]

A change made for speed (story_signature.py, stories.py, story_names.py) must not change one
signature or one story id: a signature is stored, and rows written by one version are read by
the next. This dumps, one line each, what a change could move:

  F  features() of every text of the corpus (bench_match's generator with wire copies,
     outlet suffixes, wire revision marks, title-only items, truncated leads; every side of
     tests/data/story_pairs*.jsonl): signature bytes, shingle 1 (and 2 for the pairs), and the
     iteration order of its index keys (the candidate search reads them in that order)
  A  the story of each entry added to one long-lived index (entries over three windows, so
     that entries leave it), by add_entry, and B with max_entries=300
  R  the stories given after a restore at several points of that stream (rows shuffled, with
     and without `now`, some rows turned into version 2 or junk signatures)
  P  eval_stories' predictions, pairwise and crowded (100 fillers), for each pair file

and prints the dump's sha256. --out writes it; --against compares it with an earlier dump and
exits 1 on the first differences. Run it on the old code (PYTHONPATH=old/src) and the new.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_match import NAMES, entries, vocabulary  # noqa: E402
from eval_stories import load, predict_crowded, predict_pairwise  # noqa: E402

from veille.models import StoredEntry  # noqa: E402
from veille.stories import DEFAULT_WINDOW, StoryConfig, StoryIndex, StoryRow, features  # noqa: E402

DATA = HERE.parent / "tests" / "data"
PAIR_FILES = ("story_pairs.jsonl", "story_pairs_holdout.jsonl", "story_pairs_holdout2.jsonl")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
OUTLETS = ("Le Monde", "Ouest-France", "Reuters", "BFM TV")


def corpus(n: int) -> list[StoredEntry]:
    """Generated entries, with the shapes the code treats apart mixed in."""
    rng = random.Random(42)
    vocab = vocabulary(rng, 20_000)
    names = [w.capitalize() + "é" * (i % 3 == 0)
             for i, w in enumerate(vocabulary(rng, 5_000)) if w not in vocab][:NAMES]
    out: list[StoredEntry] = []
    for i, e in enumerate(entries(rng, vocab, names, n)):
        kind = i % 20
        title, summary, content, outlet = e.title, e.summary_text, e.content_text, None
        if i >= 20 and kind in (0, 10):  # a wire copy: an earlier entry, a word changed
            src = out[rng.randrange(len(out))]
            words = (src.summary_text or src.content_text).split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            title, summary = src.title, " ".join(words)
        elif kind == 1:  # an aggregator item: title-only, lead = title + outlet
            outlet = rng.choice(OUTLETS)
            title, summary = f"{title} - {outlet}", f"{title} {outlet}"
        elif kind == 2:  # a wire revision mark and a figure in the title
            title = f"UPDATE {rng.randint(1, 4)}-{title[:-1]} {rng.randint(1, 3)},{rng.randint(0, 9)} %"
        elif kind == 3:  # no summary: the content is the lead
            summary, content = "", content or e.summary_text * 3
        elif kind == 4:  # a lead of many short distinct words: more than the sketch keeps
            summary = " ".join("".join(rng.choice("bcdfglmnprstvz") + rng.choice("aeiou")
                                       + rng.choice("bcdfglmnprst")) for _ in range(150))
        elif kind == 5:  # a series: one title template, another number
            title = f"Puzzle n°{1000 + i % 7} : {' '.join(title.split()[:4])}"
        elif kind == 6:
            title = f"{title} | {rng.choice(OUTLETS)}"
        out.append(replace(e, id=i, title=title, summary_text=summary, content_text=content,
                           outlet=outlet, link=f"https://site{i % 50}.example/{i // 3}"))
    return out


def pair_texts() -> Iterator[tuple[str, str]]:
    for name in PAIR_FILES:
        for p in load(DATA / name):
            for side in "ab":
                yield p[side]["title"], p[side]["summary"]


def dump_features(stream: list[StoredEntry]) -> Iterator[str]:
    texts = [(e.title, e.summary_text or e.content_text) for e in stream]
    for i, (title, text) in enumerate(texts):
        f = features(title, text)
        yield f"F {i} 1 {f.signature().hex()} {list(f.key_set)}"
    for i, (title, text) in enumerate(pair_texts()):
        for shingle in (1, 2):
            f = features(title, text, shingle)
            yield f"F p{i} {shingle} {f.signature().hex()} {list(f.key_set)}"


def _stamp(stream: list[StoredEntry]) -> list[StoredEntry]:
    """Spread the stream over three windows, a few entries at one instant."""
    step = DEFAULT_WINDOW * 3 / len(stream)
    return [replace(e, first_seen=T0 + step * (i - i % 3)) for i, e in enumerate(stream)]


def dump_stream(stream: list[StoredEntry]) -> Iterator[str]:
    for label, config in (("A", StoryConfig()), ("B", StoryConfig(max_entries=300))):
        index = StoryIndex(config)
        for e in stream:
            row = index.add_entry(e)
            yield f"{label} {e.id} {row.story_id} {row.link} {len(index)}"
        yield f"{label} rows {len(index.rows())} {sum(r.story_id for r in index.rows())}"


def _aged(rows: list[StoryRow], rng: random.Random) -> list[StoryRow]:
    """Some rows as an older version wrote them (version 2: no names), some unreadable."""
    out = []
    for row in rows:
        sig, r = row.signature, rng.random()
        if r < 0.1 and sig:
            names = sig[4]
            sig = bytes((2, sig[1], sig[2], sig[3])) + sig[8:8 + 4 * sig[3]] + \
                sig[8 + 4 * (sig[3] + names):]
        elif r < 0.12:
            sig = b"\x63junk"
        elif r < 0.13:
            sig = b""
        out.append(replace(row, signature=sig))
    return out


def dump_restores(stream: list[StoredEntry]) -> Iterator[str]:
    rng = random.Random(3)
    live = StoryIndex()
    cuts = {len(stream) * k // 6 for k in range(1, 6)}
    for i, e in enumerate(stream):
        live.add_entry(e)
        if i + 1 not in cuts:
            continue
        rows = live.rows()
        for variant in ("plain", "now", "aged", "small"):
            shuffled = rng.sample(rows, len(rows))
            config = StoryConfig(max_entries=200) if variant == "small" else None
            now = e.first_seen + timedelta(hours=5) if variant == "now" else None
            if variant == "aged":
                shuffled = _aged(shuffled, rng)
            restored = StoryIndex.restore(shuffled, config, now)
            yield f"R {i} {variant} {len(restored)}"
            for later in stream[i + 1:i + 301]:
                yield f"R {i} {variant} {later.id} {restored.add_entry(later).story_id}"


def dump_predictions() -> Iterator[str]:
    config = StoryConfig()
    for name in PAIR_FILES:
        pairs = load(DATA / name)
        for label, predicted in (("pairwise", predict_pairwise(pairs, config)),
                                 ("crowded", predict_crowded(pairs, config, fillers=100))):
            yield f"P {name} {label} {''.join('1' if s else '0' for s in predicted)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=4000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--against", type=Path)
    args = parser.parse_args()
    stream = _stamp(corpus(args.entries))
    lines = [*dump_features(stream), *dump_stream(stream), *dump_restores(stream),
             *dump_predictions()]
    text = "\n".join(lines) + "\n"
    print(f"{len(lines)} lines, sha256 {hashlib.sha256(text.encode()).hexdigest()}")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.against:
        before = args.against.read_text(encoding="utf-8").splitlines()
        diffs = [(a, b) for a, b in zip(before, lines, strict=False) if a != b]
        if len(before) != len(lines):
            print(f"line counts differ: {len(before)} before, {len(lines)} now")
        for a, b in diffs[:5]:
            print(f"- {a[:200]}\n+ {b[:200]}")
        print(f"{len(diffs)} lines differ")
        return 1 if diffs or len(before) != len(lines) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
