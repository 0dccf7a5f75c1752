"""One story across outlets: group entries that tell the same story though their links differ.

An AFP or Reuters dispatch is republished by twenty sites with small edits to its title and
lead; Google News lists the publisher's article again as "Titre - Le Monde". A digest should
show that story once, with the other outlets under "also in". Entries with the same canonical
link are always one story; otherwise two entries are one story when the folded words of their
title and first paragraph are similar enough (Jaccard over word shingles, stop words out,
words cut to a light stem so that "disparition" and "disparue" agree), unless their titles
carry different numbers: "puzzle #1,024" and "#1,025" are two items of one series.

Everything here is pure: no clock, no I/O. `StoryIndex.add()` assigns a story at ingest and
returns the `StoryRow` a store keeps; `StoryIndex.restore(rows)` rebuilds the same index after
a restart. Digests show one item per story with `digest.merge_stories`.

Why a bottom-k sketch and not datasketch's MinHash LSH: a typical entry (title + ~300 chars)
has 30-60 distinct content words, so keeping the 96 smallest word hashes *is* the whole set
for nearly every entry and Jaccard is computed exactly, for one cached crc32 per word instead
of 64-128 permutations per word. datasketch 2.0 measured ~100 us per MinHash (numpy, shared
permutations) plus ~100 us per LSH query+insert, before any folding; one add() here costs
about 5x normalize.token_text of the same text, canonical link included.
Candidates come from an inverted index on the 16 smallest hashes and on the title's, and are
compared only when they share 3 of those keys: at Jaccard 0.55 (the threshold) a true match
shares fewer with probability ~0.06 % (less with the title words, indexed too). Postings are
per story, so a dispatch carried 300 times costs one posting per word, and a word in one
story costs an int, not a dict.
"""

from __future__ import annotations

import heapq
import re
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from .models import StoredEntry
from .normalize import canonical_url, token_text

DEFAULT_WINDOW = timedelta(hours=72)
SKETCH_SIZE = 96  # smallest word hashes kept per entry: the whole set for typical entries
INDEXED = 16  # of those, how many go into the inverted index
TITLE_SIZE = 24  # title shingles kept (titles longer than this are rare)
MIN_TITLE = 4  # a title-only entry needs this many content words to be compared at all
MIN_BODY = 4  # fewer content words than this in the first paragraph: a title-only entry
FIRST_PARAGRAPH = 500  # characters of summary read: the lead, not the whole article
MAX_STORIES_PER_KEY = 32  # a word in more stories than this is not looked up (like "france")
RARE_KEYS = 10  # postings read per add: the new entry's keys in the fewest stories
MIN_SHARED = 3  # keys a candidate must share to be compared (2 for a title-only entry)
MIN_SHARED_TITLE = 2
MAX_CANDIDATES = 8  # entries compared per add, rarest shared words first
TEMPLATE = 0.6  # titles this alike once numbers are set aside: one template, a series
STEM = 6  # letters of a word kept once a plural s/x is off: "disparition", "disparue" agree
_SIGNATURE_VERSION = 2  # 2: stemmed words, title numbers

_STOPWORDS = frozenset("""
a b c d e f g h i j k l m n o p q r s t u v w x y z
au aux avec ce ces cet cette ci ça ca dans de des du elle elles en et eux il ils je la le les
leur leurs lui ma mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa
se ses son sur ta te tes toi ton tu un une vos votre vous est sont ete etre avoir ont avait
sera fait faire comme donc car si tout tous toute toutes aussi deja encore apres avant depuis
pendant selon lors sans sous entre vers chez dont ainsi alors plus moins tres cela celle celui
ceux y afin dont quand
the an and or of to in on at for from by with as is are was were be been being has have had
it its this that these those he she they them his her their we you not no but if than then so
up out over after before about into more said says will would can could also our us your who
which what when where while there here all any some such only other own same too very just
direct live update updated maj video videos exclusif breaking
""".split())
_DIGIT_GAP = re.compile("[0-9][.,\u00a0\u202f ][0-9]")  # "2,2" "3 000" "3.2": one word each
_SEPARATORS = (" - ", " | ", " \u2013 ", " \u2014 ")  # before an outlet's name: " - Le Monde"
_WIRE_PREFIX = re.compile(r"(?:UPDATE|REFILE|CORRECTED|WRAPUP)[ \d]*-")  # Reuters: "UPDATE 3-"
_BIG_ENDIAN = sys.byteorder == "big"
_MASK = 0xFFFFFFFF
_HASHES: dict[str, int] = {}
assert array("I").itemsize == 4


# --- features -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Features:
    """What an entry is compared by: hashed shingles of its title and of title + lead, sorted,
    and the hashes of the numbers in its title (a series tells its items apart by them)."""

    title: tuple[int, ...]
    text: tuple[int, ...]  # the SKETCH_SIZE smallest hashes of title + first paragraph
    title_only: bool  # no lead to speak of (aggregator items): compared by title
    truncated: bool  # the text had more shingles than the sketch keeps
    numbers: tuple[int, ...] = ()  # hashes of the title's words with a digit ("1024", "12e")

    @cached_property
    def key_set(self) -> frozenset[int]:
        return self.keys()

    @cached_property
    def title_set(self) -> frozenset[int]:
        return frozenset(self.title)

    @cached_property
    def text_set(self) -> frozenset[int]:
        return frozenset(self.text)

    def keys(self) -> frozenset[int]:
        """Inverted-index keys: a few of the smallest text hashes, and every title hash (so
        that a title-only aggregator item finds the article whose title it repeats)."""
        return frozenset(self.text[:INDEXED]).union(self.title)

    def signature(self) -> bytes:
        """Plain bytes a store can keep: version, flags, title count, number count, then
        uint32 hashes (numbers, title, text)."""
        hashes = array("I", self.numbers + self.title + self.text)
        if _BIG_ENDIAN:
            hashes.byteswap()
        flags = self.title_only | self.truncated << 1
        head = (_SIGNATURE_VERSION, flags, len(self.title), len(self.numbers))
        return bytes(head) + hashes.tobytes()

    @classmethod
    def from_signature(cls, data: bytes) -> Features | None:
        """None for an empty or foreign signature: that entry keeps its story, attracts none.
        (Version 1 hashed unstemmed words: its entries leave the window within 72 h.)"""
        if len(data) < 4 or data[0] != _SIGNATURE_VERSION or len(data) % 4:
            return None
        hashes = array("I")
        hashes.frombytes(data[4:])
        if _BIG_ENDIAN:
            hashes.byteswap()
        k, n = data[3], data[3] + data[2]
        return cls(tuple(hashes[k:n]), tuple(hashes[n:]), bool(data[1] & 1), bool(data[1] & 2),
                   tuple(hashes[:k]))


def features(title: str, text: str, shingle: int = 1) -> Features:
    """Features of an entry from its title and summary (only the first paragraph is read)."""
    title_folded = _fold(strip_outlet_suffix(title))
    lead = _fold(_lead(text))
    if len(title_folded) > 2 and lead.startswith(title_folded):  # aggregators repeat the title
        lead = lead[len(title_folded) - 1:]
    title_words = [w for w in title_folded.split() if w not in _STOPWORDS]
    body_words = [w for w in lead.split() if w not in _STOPWORDS]
    title_only = len(body_words) < MIN_BODY
    title_set = _shingles(title_words, shingle)
    numbers = tuple(sorted(_shingles([w for w in title_words if not w.isalpha()], 1)))
    if title_only:
        text_set = title_set
    elif shingle <= 1:
        text_set = title_set | _shingles(body_words, 1)
    else:
        text_set = _shingles(title_words + body_words, shingle)
    text_sorted = sorted(text_set)
    return Features(tuple(sorted(title_set)[:TITLE_SIZE]), tuple(text_sorted[:SKETCH_SIZE]),
                    title_only, len(text_sorted) > SKETCH_SIZE, numbers[:TITLE_SIZE])


def strip_outlet_suffix(title: str) -> str:
    """ "Titre - Le Monde" -> "Titre": aggregators and some feeds append the outlet's name.
    A tail of up to four words after a spaced dash or bar is taken for a name. A wire
    service's revision mark ("UPDATE 3-") goes too: its number is not the story's."""
    if title[:1] in "UCRW" and (mark := _WIRE_PREFIX.match(title)):
        title = title[mark.end():]
    cut = max(title.rfind(sep) for sep in _SEPARATORS)
    if cut > 0:
        tail, head = title[cut + 3:], title[:cut]
        if len(tail.split()) <= 4 and len(head.split()) >= 2:
            return head
    return title


def _lead(text: str) -> str:
    if len(text) <= FIRST_PARAGRAPH:
        return text
    return text[:FIRST_PARAGRAPH].rsplit(" ", 1)[0]


def _fold(text: str) -> str:
    """normalize.token_text, numbers kept whole first: "2,2 %", "3 000", "3.2%" are one word
    each (wire copies agree on their figures; successive monthly releases do not)."""
    gaps = [m.start() + 1 for m in _DIGIT_GAP.finditer(text)]
    if gaps:
        text = "".join(text[i + 1:j] for i, j in zip([-1, *gaps], [*gaps, len(text)], strict=True))
    return token_text(text)


def _new_hash(word: str) -> int:
    """crc32 is stable across processes (str hash is salted) and fast; fmix32 spreads it so
    that the smallest hashes are a fair sample of the words."""
    if len(_HASHES) > 1 << 18:
        _HASHES.clear()
    h = _HASHES[word] = _fmix(zlib.crc32(_stem(word).encode()))
    return h


def _stem(word: str) -> str:
    """Light stemming for French and English alike: a plural s or x off, then the first STEM
    letters ("disparition"/"disparue", "cuts"/"cut", "effondrement"/"effondre"). Numbers are
    kept whole: "1024" and "1025" are different puzzles."""
    if not word.isalpha():
        return word
    if len(word) > 3 and word[-1] in "sx":
        word = word[:-1]
    return word[:STEM]


def _fmix(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def _shingles(words: list[str], size: int) -> set[int]:
    get = _HASHES.get
    if size <= 1 or len(words) < size:
        return {get(w) or _new_hash(w) for w in set(words)}
    hashes = [get(w) or _new_hash(w) for w in words]
    out = set()
    for i in range(len(hashes) - size + 1):
        h = 0
        for x in hashes[i:i + size]:
            h = (h * 0x9E3779B1 + x) & _MASK
        out.add(_fmix(h))
    return out


def similarity(a: Features, b: Features) -> tuple[float, bool]:
    """(score, by_title). Two entries with a lead: Jaccard of their text shingles. When one
    is title-only: the better of title Jaccard and how much of the shorter title is found in
    the other entry; by_title is then True (that score has its own threshold).
    Items of a series score 0 (see `is_series`)."""
    if is_series(a, b):
        return 0.0, a.title_only or b.title_only
    if a.title_only or b.title_only:
        short, other = (a, b) if len(a.title) <= len(b.title) else (b, a)
        if len(short.title) < MIN_TITLE:
            return 0.0, True
        found = short.title_set & (other.text_set | other.title_set)
        return max(_jaccard(a.title_set, b.title_set, False), len(found) / len(short.title)), True
    return _jaccard(a.text_set, b.text_set, a.truncated or b.truncated), False


def is_series(a: Features, b: Features) -> bool:
    """Two items of a series: one title template, different numbers in it ("puzzle #1,024"
    and "#1,025", "Gameweek 12" and "13", "le gazole à 1,70 euro" and "à 1,78 euro"). However
    alike their words, the number says which item each is. An update that revises a figure
    but rewords its title too ("kills at least 6", then "Death toll rises to 27") is no
    template and is scored as usual; one that keeps the title ("grows to 10,000 acres",
    then "to 24,000 acres") is lost to this rule: the price of never hiding an item of a
    series behind the previous one."""
    if not numbers_differ(a.numbers, b.numbers):
        return False
    words_a, words_b = a.title_set.difference(a.numbers), b.title_set.difference(b.numbers)
    return _jaccard(words_a, words_b, False) >= TEMPLATE


def numbers_differ(a: Sequence[int], b: Sequence[int]) -> bool:
    """Each title has a number the other lacks."""
    return bool(a) and bool(b) and not set(a).issuperset(b) and not set(b).issuperset(a)


def _jaccard(a: frozenset[int] | set[int], b: frozenset[int] | set[int], truncated: bool) -> float:
    if not truncated:
        inter = len(a & b)
        union = len(a) + len(b) - inter
        return inter / union if union else 0.0
    # bottom-k estimator: the k smallest of the union, and how many of them both sets hold
    bottom = sorted(a | b)[:SKETCH_SIZE]
    return sum(1 for h in bottom if h in a and h in b) / len(bottom)


def _text_jaccard(new: Features, signature: bytes) -> float | None:
    """similarity() against a stored signature without decoding it, for the common case (both
    entries with a lead, neither truncated); None when the general path must decide."""
    if _BIG_ENDIAN or new.title_only or new.truncated or signature[1] & 3 or \
            (new.numbers and signature[3]):
        return None
    text = memoryview(signature)[4 + 4 * (signature[2] + signature[3]):].cast("I")
    inter = len(new.text_set.intersection(text))
    return inter / (len(new.text) + len(text) - inter)


# --- the index -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoryConfig:
    """`threshold`: Jaccard of title + lead word sets above which two entries are one story.
    `title_threshold`: the same for an entry without a lead (an aggregator item) against any.
    `enabled=False`: every entry is its own story, except entries with the same canonical
    link. Entries older than `window` attract no new members and are forgotten; at most
    `max_entries` are kept (the oldest go first)."""

    threshold: float = 0.55
    title_threshold: float = 0.8  # 0.75 let "3 of 4 title words" (same topic) through
    window: timedelta = DEFAULT_WINDOW
    max_entries: int = 20_000  # ~1.5 KB each, 3 KB at worst: 30-60 MB
    shingle: int = 1
    enabled: bool = True


@dataclass(frozen=True)
class StoryRow:
    """What a store keeps per entry, and all `StoryIndex.restore()` needs.

    entry_id  the store's entry id           story_id  the id of the story's first entry
    at        when the entry was first seen   link      canonical link, "" when none
    signature Features.signature(), b"" when grouping is off
    """

    entry_id: int
    story_id: int
    at: datetime
    link: str
    signature: bytes

    @property
    def new_story(self) -> bool:
        return self.story_id == self.entry_id


@dataclass(slots=True)
class _Slot:
    row: StoryRow
    at: float


class StoryIndex:
    """Story ids assigned at ingest, one entry at a time, within a sliding time window.

    A story's id is the entry id of its first entry, so ids need no counter and survive a
    restart. An entry joins the story of the most similar earlier entry in the window (ties:
    the earliest); stories are never merged afterwards, so an id once given never changes.
    Per entry the index keeps its row (the signature is ~100-400 bytes) and ~20 postings.
    """

    def __init__(self, config: StoryConfig | None = None) -> None:
        self.config = config or StoryConfig()
        self._window = self.config.window.total_seconds()
        self._slots: dict[int, _Slot] = {}
        self._links: dict[str, int] = {}  # canonical link -> latest entry id with it
        # hash -> latest entry id with it if one story has it, else {story id: latest entry id}
        self._postings: dict[int, int | dict[int, int]] = {}
        self._ages: list[tuple[float, int]] = []  # heap of (at, entry id) for eviction
        self._latest = float("-inf")

    def __len__(self) -> int:
        return len(self._slots)

    def story_of(self, entry_id: int) -> int | None:
        slot = self._slots.get(entry_id)
        return slot.row.story_id if slot else None

    def rows(self) -> list[StoryRow]:
        """The rows of the entries still in the window, oldest first."""
        return [s.row for s in sorted(self._slots.values(), key=lambda s: (s.at, s.row.entry_id))]

    def add_entry(self, entry: StoredEntry) -> StoryRow:
        """`add()` for a stored entry: its summary (else content) as lead, first seen as time.
        An aggregator's item is its outlet's article: Google News' lead is the title followed
        by the outlet's name, which is no part of the story (outlets.py)."""
        lead = entry.summary_text or entry.content_text
        if entry.outlet and lead.endswith(entry.outlet):
            lead = lead[:-len(entry.outlet)].rstrip()
        return self.add(entry.id, entry.title, lead, entry.link, entry.first_seen)

    def add(self, entry_id: int, title: str, text: str, link: str | None,
            at: datetime) -> StoryRow:
        """Assign `entry_id` a story and return the row to persist. An entry already in the
        index keeps its story (an updated entry stays where it was)."""
        known = self._slots.get(entry_id)
        if known:
            return known.row
        ts = at.timestamp()
        if ts > self._latest:
            self._evict_before(ts - self._window)
        canonical = canonical_url(link) if link else ""
        feats = features(title, text, self.config.shingle) if self.config.enabled else None
        story = self._linked(canonical, ts)
        if story is None and feats is not None:
            story = self._similar(feats, ts)
        row = StoryRow(entry_id, entry_id if story is None else story, at, canonical,
                       feats.signature() if feats else b"")
        self._insert(row, ts, feats.key_set if feats else ())
        return row

    def evict(self, now: datetime) -> int:
        """Forget entries older than the window at `now`; the number forgotten."""
        before = len(self._slots)
        self._evict_before(now.timestamp() - self._window)
        return before - len(self._slots)

    @classmethod
    def restore(cls, rows: Iterable[StoryRow], config: StoryConfig | None = None,
                now: datetime | None = None) -> StoryIndex:
        """The index as it was, from the rows `add()` returned (any order). Rows older than the
        window (at `now`, else at the newest row) are skipped; story ids are kept as stored.
        A row whose signature this version cannot read keeps its story but attracts none."""
        index = cls(config)
        if now is not None:
            index._latest = now.timestamp()
        for row in sorted(rows, key=lambda r: (r.at.timestamp(), r.entry_id)):
            ts = row.at.timestamp()
            if row.entry_id in index._slots or ts < index._latest - index._window:
                continue
            index._evict_before(ts - index._window)
            feats = Features.from_signature(row.signature) if index.config.enabled else None
            index._insert(row, ts, feats.keys() if feats else ())
        return index

    # --- internals ---------------------------------------------------------------------

    def _linked(self, canonical: str, ts: float) -> int | None:
        entry_id = self._links.get(canonical) if canonical else None
        slot = self._slots.get(entry_id) if entry_id is not None else None
        if slot and abs(ts - slot.at) <= self._window:
            return slot.row.story_id
        return None

    def _similar(self, feats: Features, ts: float) -> int | None:
        best: tuple[float, float, int] | None = None  # (-score, at, story id)
        min_shared = MIN_SHARED_TITLE if feats.title_only else MIN_SHARED
        for entry_id in self._candidates(feats.key_set, min_shared):
            slot = self._slots[entry_id]
            if abs(ts - slot.at) > self._window:
                continue
            score, by_title = self._score(feats, slot.row.signature)
            limit = self.config.title_threshold if by_title else self.config.threshold
            if score >= limit:
                key = (-score, slot.at, slot.row.story_id)
                if best is None or key < best:
                    best = key
        return best[2] if best else None

    @staticmethod
    def _score(feats: Features, signature: bytes) -> tuple[float, bool]:
        fast = _text_jaccard(feats, signature)
        if fast is not None:
            return fast, False
        other = Features.from_signature(signature)
        return similarity(feats, other) if other else (0.0, False)

    def _candidates(self, keys: Iterable[int], min_shared: int) -> list[int]:
        """The entries sharing the most of the new entry's rarest keys (rare: in the fewest
        stories), at least `min_shared` of them. A near-duplicate shares about half, a
        same-topic entry one or two; words in more than MAX_STORIES_PER_KEY stories are not
        read: they tell nothing and cost the most. Ties go to the latest entry."""
        single: list[int] = []
        several: list[dict[int, int]] = []
        for posting in map(self._postings.get, keys):
            if isinstance(posting, int):
                single.append(posting)
            elif posting and len(posting) <= MAX_STORIES_PER_KEY:
                several.append(posting)
        counts = Counter(single)
        if several and len(single) < RARE_KEYS:
            several.sort(key=len)
            for posting in several[:RARE_KEYS - len(single)]:
                counts.update(posting.values())
        shared = [(n, entry_id) for entry_id, n in counts.items() if n >= min_shared]
        if len(shared) > MAX_CANDIDATES:
            shared = sorted(shared, reverse=True)[:MAX_CANDIDATES]
        return [entry_id for _, entry_id in shared]

    def _insert(self, row: StoryRow, ts: float, keys: Iterable[int]) -> None:
        self._slots[row.entry_id] = _Slot(row, ts)
        heapq.heappush(self._ages, (ts, row.entry_id))
        self._latest = max(self._latest, ts)
        if row.link:
            self._links[row.link] = row.entry_id
        story, entry_id, postings, slots = row.story_id, row.entry_id, self._postings, self._slots
        for key in keys:
            posting = postings.get(key)
            if posting is None:
                postings[key] = entry_id  # most words are in one story: no dict for them
            elif isinstance(posting, int):
                other = slots[posting].row.story_id
                postings[key] = entry_id if other == story else {other: posting, story: entry_id}
            else:
                posting[story] = entry_id
        while len(self._slots) > self.config.max_entries:
            self._drop(heapq.heappop(self._ages)[1])

    def _evict_before(self, cutoff: float) -> None:
        ages = self._ages
        while ages and ages[0][0] < cutoff:
            self._drop(heapq.heappop(ages)[1])

    def _drop(self, entry_id: int) -> None:
        slot = self._slots.pop(entry_id, None)
        if slot is None:
            return
        row = slot.row
        if row.link and self._links.get(row.link) == entry_id:
            del self._links[row.link]
        feats = Features.from_signature(row.signature)
        postings = self._postings
        for key in feats.keys() if feats else ():
            posting = postings.get(key)
            if posting == entry_id:
                del postings[key]
            elif isinstance(posting, dict) and posting.get(row.story_id) == entry_id:
                del posting[row.story_id]
                if len(posting) == 1:
                    postings[key] = next(iter(posting.values()))
