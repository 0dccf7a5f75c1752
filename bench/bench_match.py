"""Matching throughput: N watchlists against 100,000 generated entries, one core.

    python bench/bench_match.py [--entries 100000] [--watchlists 10,100,1000]

Entries have realistic lengths (title ~10 words, summary ~45 words, full content ~250 words
for a third of them) drawn from a French-like vocabulary with accents and apostrophes.
Text words follow Zipf's law; one word in 200 is a mention of one of 3,000 names (brands,
people, places), which watchlists look for, with ordinary words as context or exclusions.
Watchlists mix words, phrases, prefixes, OR groups, exclusions and scopes.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

from veille.folding import FoldedEntry, fold_parts
from veille.match import Matcher, compile_watchlist
from veille.models import StoredEntry
from veille.search import folded_text

SYLLABLES = ("ma pa ré co lo gi que tion nis men té ve ra pi ro di cé an on in eu ou ai "
             "mi la bo ca du fé gé jo li mé né pè qui sa tu vé œu ça").split()
COMMON = ("le la les de des du un une et à en pour que qui dans sur par avec est pas au "
          "l’État d’après l’économie aujourd’hui président gouvernement France Paris "
          "élection réforme sécurité santé économie entreprise marché").split()


NAMES = 3_000  # distinct watched names (brands, people, places)
NAME_RATE = 0.5  # mentions of some watched name per 100 words


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Zipf:
    """Words drawn as in real text: a few very common, most rare (Zipf's law, s = 1)."""

    def __init__(self, vocab: list[str]) -> None:
        self.words = COMMON + vocab
        total, self.cum = 0.0, []
        for rank in range(1, len(self.words) + 1):
            total += 1 / rank
            self.cum.append(total)

    def sample(self, rng: random.Random, n: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=n)


def sentence(rng: random.Random, zipf: Zipf, n: int, names: list[str]) -> str:
    """Words, with a mention of a watched name (a brand, a person) now and then."""
    words = zipf.sample(rng, n)
    for i in range(0, n, 12):
        words[i] = words[i].capitalize()
    for _ in range(round(rng.expovariate(100 / (NAME_RATE * n)))):
        words[rng.randrange(n)] = rng.choice(names)
    return " ".join(words) + "."


def entries(rng: random.Random, vocab: list[str], names: list[str], count: int
            ) -> list[StoredEntry]:
    vocab = Zipf(vocab)
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        content = sentence(rng, vocab, 250, names) if rng.random() < 0.33 else ""
        out.append(StoredEntry(
            id=i, feed_url="https://flux.example.org/rss", feed_title="Le Fil", key=str(i),
            title=sentence(rng, vocab, 10, names), link=f"https://ex.org/{i}", author="A. Auteur",
            published=now, updated=None, summary_text=sentence(rng, vocab, 45, names),
            content_text=content, summary_html="", content_html="", categories=("Politique",),
            language="fr", first_seen=now, changed_at=None, changes=0))
    return out


def query(rng: random.Random, vocab: list[str], names: list[str]) -> str:
    """Watched terms are names; context words come from the ordinary vocabulary."""
    kind = rng.random()
    a, b = rng.choice(names), rng.choice(names)
    c = rng.choice(vocab[:2000])
    if kind < 0.3:
        return a
    if kind < 0.5:
        return f'"{a} {b}"'
    if kind < 0.65:
        return f"{a[:-1]}*"  # plurals, feminines: Macron* finds "macronistes"
    if kind < 0.85:
        return f'{a} OR "{b} {c}" -{rng.choice(vocab)}'
    return f"({a} OR {b}) title:{c}"


def run(entry_list: list[StoredEntry], n_watchlists: int, rng: random.Random,
        vocab: list[str], names: list[str],
        folds: list[FoldedEntry] | None = None) -> tuple[float, int]:
    """Entries matched per second of CPU; with `folds`, the entries come folded, as the
    parser processes hand them to the main process (folding.py)."""
    matcher = Matcher([compile_watchlist(f"w{i}", query(rng, vocab, names))
                       for i in range(n_watchlists)])
    start = time.process_time()
    if folds is None:
        found = sum(len(matcher.match(e)) for e in entry_list)
    else:
        found = sum(len(matcher.match(e, folded_text(e, f)))
                    for e, f in zip(entry_list, folds, strict=True))
    return len(entry_list) / (time.process_time() - start), found


def fold(e: StoredEntry) -> FoldedEntry:
    return fold_parts(e.title, e.summary_text, e.content_text, e.author, e.link, e.categories,
                      e.outlet, e.outlet_url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--watchlists", default="10,100,1000")
    args = parser.parse_args()
    rng = random.Random(42)
    vocab = vocabulary(rng, 20_000)
    names = [n.capitalize() + "é" * (i % 3 == 0) for i, n in enumerate(vocabulary(rng, 5_000))
             if n not in vocab][:NAMES]
    entry_list = entries(rng, vocab, names, args.entries)
    chars = sum(len(e.title) + len(e.summary_text) + len(e.content_text) for e in entry_list)
    print(f"{args.entries} entries, {chars / args.entries:.0f} characters each on average")
    results = {}
    start = time.process_time()
    folds = [fold(e) for e in entry_list]
    print(f"folding alone (in the parser processes): "
          f"{args.entries / (time.process_time() - start):,.0f} entries/s")
    for n in (int(x) for x in args.watchlists.split(",")):
        rate, found = run(entry_list, n, random.Random(n), vocab, names)
        folded, _ = run(entry_list, n, random.Random(n), vocab, names, folds)
        results[n] = rate
        print(f"{n:>5} watchlists: {rate:>9,.0f} entries/s folding included, {folded:>9,.0f} "
              f"entries/s folded by the parser (CPU time), {found} matches")
    if len(results) > 1:
        lo, hi = min(results), max(results)
        print(f"throughput {hi} vs {lo} watchlists: {results[hi] / results[lo]:.2f}x")


if __name__ == "__main__":
    main()
