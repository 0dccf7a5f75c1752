"""Story grouping against the labelled pairs of tests/data/story_pairs.jsonl.

    python bench/eval_stories.py [--pairs FILE] [--threshold 0.55] [--title-threshold 0.8]
                                 [--shingle 1] [--crowded] [--errors] [--no-sweep] [--speed N]

--pairs picks the labelled set (default tests/data/story_pairs.jsonl); the held-out sets
tests/data/story_pairs_holdout.jsonl (written before the word similarity was tuned) and
story_pairs_holdout2.jsonl (written before the names signal was measured on it) are not to
be tuned on: they tell whether what the main set taught generalises.

Each pair is fed a-then-b into a fresh StoryIndex (b one hour after a); "same" is the index
putting b in a's story. Prints precision and recall, the outcome per case (recall for cases
labelled same, false groupings for the others), then a sweep of thresholds.

--crowded plays the pairs in one long-lived index instead, each pair 80 h after the previous
(so the last one has left the window) and after 400 filler entries made of the set's own
words: common words then have long postings, as in a real window, which checks that the
candidate search still finds what the pairwise run finds.

--speed N times StoryIndex.add() on N generated entries (bench_match's French-like text: title
~10 words, summary ~45 words, Zipf vocabulary and watched names; one in ten a lightly edited
copy of an earlier entry) all within one window, so the index grows to N entries; then the
memory per entry kept (tracemalloc, a second run) and StoryIndex.restore() of the N rows.
Then N/4 more entries past the window, as in a daemon running for days: each add evicts the
oldest entry (its postings go too).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from veille.stories import DEFAULT_WINDOW, StoryConfig, StoryIndex, features, similarity

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "story_pairs.jsonl"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HARD = "independent_dispatch"


@dataclass(frozen=True)
class Result:
    precision: float
    recall: float
    recall_without_hard: float
    tp: int
    fp: int
    fn: int
    predictions: tuple[bool, ...]


def load(path: Path = PAIRS) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _add(index: StoryIndex, entry_id: int, item: dict, at: datetime) -> int:
    return index.add(entry_id, item["title"], item["summary"], item["link"], at).story_id


def predict_pairwise(pairs: Sequence[dict], config: StoryConfig) -> list[bool]:
    out = []
    for p in pairs:
        index = StoryIndex(config)
        a = _add(index, 1, p["a"], T0)
        b = _add(index, 2, p["b"], T0 + timedelta(hours=1))
        out.append(a == b)
    return out


def predict_crowded(pairs: Sequence[dict], config: StoryConfig, fillers: int = 400,
                    seed: int = 7) -> list[bool]:
    rng = random.Random(seed)
    vocab = Counter(w for p in pairs for side in "ab"
                    for w in (p[side]["title"] + " " + p[side]["summary"]).split())
    words, weights = list(vocab), list(vocab.values())
    index = StoryIndex(config)
    out, next_id = [], 1
    for i, p in enumerate(pairs):
        start = T0 + timedelta(hours=80 * i)
        for j in range(fillers):
            title = " ".join(rng.choices(words, weights, k=10))
            text = " ".join(rng.choices(words, weights, k=45))
            index.add(next_id, title, text, f"https://filler.example/{next_id}",
                      start + timedelta(seconds=j))
            next_id += 1
        a = _add(index, next_id, p["a"], start + timedelta(hours=1))
        b = _add(index, next_id + 1, p["b"], start + timedelta(hours=2))
        next_id += 2
        out.append(a == b)
    return out


def score(pairs: Sequence[dict], predictions: Sequence[bool]) -> Result:
    tp = sum(1 for p, s in zip(pairs, predictions, strict=True) if s and p["same"])
    fp = sum(1 for p, s in zip(pairs, predictions, strict=True) if s and not p["same"])
    fn = sum(1 for p, s in zip(pairs, predictions, strict=True) if not s and p["same"])
    easy = [(p, s) for p, s in zip(pairs, predictions, strict=True)
            if p["same"] and p["case"] != HARD]
    recall_easy = sum(s for _, s in easy) / len(easy) if easy else 1.0
    return Result(tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0,
                  recall_easy, tp, fp, fn, tuple(predictions))


def evaluate(pairs: Sequence[dict], config: StoryConfig, crowded: bool = False) -> Result:
    predict = predict_crowded if crowded else predict_pairwise
    return score(pairs, predict(pairs, config))


def per_case(pairs: Sequence[dict], result: Result) -> list[str]:
    groups: dict[tuple[str, bool], list[bool]] = defaultdict(list)
    for p, s in zip(pairs, result.predictions, strict=True):
        groups[(p["case"], p["same"])].append(s)
        groups[(f"  {p['lang']}", p["same"])].append(s)
    lines = []
    for (case, same), preds in sorted(groups.items(), key=lambda kv: (not kv[0][1], kv[0][0])):
        if same:
            lines.append(f"  {case:<22} same  recall   {sum(preds)}/{len(preds)}"
                         f" = {sum(preds) / len(preds):.2f}")
        else:
            lines.append(f"  {case:<22} diff  grouped  {sum(preds)}/{len(preds)} (false positives)")
    return lines


def errors(pairs: Sequence[dict], result: Result, config: StoryConfig) -> list[str]:
    lines = []
    for p, s in zip(pairs, result.predictions, strict=True):
        if s != p["same"]:
            fa = features(p["a"]["title"], p["a"]["summary"], config.shingle)
            fb = features(p["b"]["title"], p["b"]["summary"], config.shingle)
            value, by_title = similarity(fa, fb)
            kind = "FN" if p["same"] else "FP"
            lines.append(f"  {kind} {p['case']:<20} {p['lang']} score={value:.2f}"
                         f"{' (title)' if by_title else ''}  {p['a']['title'][:50]!r}"
                         f" / {p['b']['title'][:50]!r}")
    return lines


def report(pairs: Sequence[dict], config: StoryConfig, crowded: bool, show_errors: bool) -> Result:
    result = evaluate(pairs, config, crowded)
    hard = [s for p, s in zip(pairs, result.predictions, strict=True) if p["case"] == HARD]
    print(f"{len(pairs)} pairs ({sum(p['same'] for p in pairs)} same), "
          f"{'crowded index' if crowded else 'pairwise, fresh index'}; threshold "
          f"{config.threshold}, title threshold {config.title_threshold}, shingle {config.shingle}")
    print(f"precision {result.precision:.3f}  recall {result.recall:.3f}  "
          f"(tp {result.tp}, fp {result.fp}, fn {result.fn})")
    print(f"recall without {HARD}: {result.recall_without_hard:.3f}; "
          f"{HARD} alone: {sum(hard)}/{len(hard)}")
    print("\n".join(per_case(pairs, result)))
    if show_errors:
        print("errors:")
        print("\n".join(errors(pairs, result, config)))
    return result


def sweep(pairs: Sequence[dict], base: StoryConfig) -> None:
    print("\nsweep (pairwise): shingle  threshold  title_thr  precision  recall  recall-w/o-hard")
    for shingle in (1, 2):
        for title_threshold in (0.6, 0.75, 0.9):
            for threshold in (0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
                config = replace(base, threshold=threshold, title_threshold=title_threshold,
                                 shingle=shingle)
                r = evaluate(pairs, config)
                print(f"  {shingle:>7}  {threshold:>9}  {title_threshold:>9}  {r.precision:>9.3f}"
                      f"  {r.recall:>6.3f}  {r.recall_without_hard:>15.3f}")


def speed(n: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_match import NAMES, entries, vocabulary

    rng = random.Random(42)
    vocab = vocabulary(rng, 20_000)
    names = [w.capitalize() for w in vocabulary(rng, 5_000) if w not in vocab][:NAMES]
    stream = []
    for i, e in enumerate(entries(rng, vocab, names, n)):
        title, text = e.title, e.summary_text
        if i >= 10 and i % 10 == 0:  # a wire copy: an earlier entry with a word changed
            src = stream[rng.randrange(len(stream))]
            words = src[1].split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            title, text = src[0], " ".join(words)
        stream.append((title, text, f"https://site{i % 50}.example/{i}"))
    chars = sum(len(t) + len(x) for t, x, _ in stream) / n
    step = DEFAULT_WINDOW / (n + 1)
    config = StoryConfig(max_entries=n)

    def fill(cfg: StoryConfig) -> tuple[StoryIndex, float]:
        index = StoryIndex(cfg)
        start = time.process_time()
        for i, (title, text, link) in enumerate(stream):
            index.add(i, title, text, link, T0 + step * i)
        return index, time.process_time() - start

    print(f"{n} entries, title + summary {chars:.0f} characters on average")
    for label, cfg in (("grouping", config), ("off mode", replace(config, enabled=False))):
        index, elapsed = fill(cfg)
        stories = len({r.story_id for r in index.rows()})
        print(f"  {label:<9} {elapsed / n * 1e6:6.1f} us per add (CPU time), {stories} stories")
        if label == "grouping":
            steady(index, vocab, names, n, step)
    start = time.process_time()
    for title, text, _ in stream:
        features(title, text)
    print(f"  features() alone {(time.process_time() - start) / n * 1e6:6.1f} us")
    tracemalloc.start()
    index, _ = fill(config)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rows = index.rows()
    print(f"  memory held {held / n:.0f} B per entry ({held / 2**20:.1f} MiB for {n}); "
          f"signature {sum(len(r.signature) for r in rows) / n:.0f} B per row")
    start = time.process_time()
    StoryIndex.restore(rows, config)
    print(f"  restore {n} rows: {time.process_time() - start:.2f} s")


def steady(index: StoryIndex, vocab: list[str], names: list[str], n: int,
           step: timedelta) -> None:
    """N/4 entries after the N of a full window: each add evicts the oldest entry."""
    from bench_match import entries

    more = [(e.title, e.summary_text) for e in entries(random.Random(43), vocab, names, n // 4)]
    start = time.process_time()
    for i, (title, text) in enumerate(more, start=n):
        index.add(i, title, text, f"https://site{i % 50}.example/{i}", T0 + step * i)
    elapsed = time.process_time() - start
    print(f"  steady    {elapsed / len(more) * 1e6:6.1f} us per add past the window (each evicts"
          f" the oldest), {len(index)} entries kept")


def main(argv: Sequence[str] | None = None) -> int:
    default = StoryConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=PAIRS, metavar="FILE",
                        help="labelled pairs, one JSON object a line (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=default.threshold)
    parser.add_argument("--title-threshold", type=float, default=default.title_threshold)
    parser.add_argument("--shingle", type=int, default=default.shingle)
    parser.add_argument("--crowded", action="store_true")
    parser.add_argument("--errors", action="store_true")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--speed", type=int, metavar="N")
    args = parser.parse_args(argv)
    if args.speed:
        speed(args.speed)
        return 0
    pairs = load(args.pairs)
    config = replace(default, threshold=args.threshold, title_threshold=args.title_threshold,
                     shingle=args.shingle)
    report(pairs, config, args.crowded, args.errors)
    if not args.no_sweep:
        sweep(pairs, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
