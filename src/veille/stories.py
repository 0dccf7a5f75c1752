"""One story across outlets: group entries that tell the same story though their links differ.

An AFP or Reuters dispatch is republished by twenty sites with small edits to its title and
lead; Google News lists the publisher's article again as "Titre - Le Monde". A digest should
show that story once, with the other outlets under "also in". Entries with the same canonical
link are always one story; otherwise two entries are one story when the folded words of their
title and first paragraph are similar enough (Jaccard over word shingles, stop words out,
words cut to a light stem so that "disparition" and "disparue" agree), unless their titles
carry different numbers: "puzzle #1,024" and "#1,025" are two items of one series. Below
that threshold, the names in their titles may still make them one story (story_names.py):
two agencies on one event name the same things, two events on one topic do not.

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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress
from operator import eq
from urllib.parse import urlsplit

from .models import StoredEntry
from .normalize import canonical_url
from .story_names import loose_series, other_period, shared_names
from .story_signature import (  # noqa: F401 - re-exported: the signature is part of stories
    Features,
    _text_jaccard,
    features,
    index_keys,
    is_series,
    key_run,
    numbers_differ,
    similarity,
    strip_outlet_suffix,
)

DEFAULT_WINDOW = timedelta(hours=72)
MAX_STORIES_PER_KEY = 32  # a word in more stories than this is not looked up (like "france")
RARE_KEYS = 10  # postings read per add: the new entry's keys in the fewest stories
MIN_SHARED = 3  # keys a candidate must share to be compared (2 for a title-only entry)
MIN_SHARED_TITLE = 2
MAX_CANDIDATES = 8  # entries compared per add, rarest shared words first
#: Latest entries whose features are kept decoded: the next entries of a story compare
#: with its latest one (about half of all comparisons in a first poll), ~5 KB each.
DECODED = 256


# --- the index -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoryConfig:
    """`threshold`: Jaccard of title + lead word sets above which two entries are one story.
    `title_threshold`: the same for an entry without a lead (an aggregator item) against any.
    `names_threshold`: the lower Jaccard at which two entries with a lead are one story when
    their titles name the same things, at least two, and nothing the other lacks (two agencies
    on one event: story_names.py). `site_threshold`: the same with one shared name for two
    articles of one site (an article and its update). 1.0 turns either rule off.
    `enabled=False`: every entry is its own story, except entries with the same canonical
    link. Entries older than `window` attract no new members and are forgotten; at most
    `max_entries` are kept (the oldest go first)."""

    threshold: float = 0.55
    title_threshold: float = 0.8  # 0.75 let "3 of 4 title words" (same topic) through
    names_threshold: float = 0.18  # 0.15 let two different events in Nantes through
    site_threshold: float = 0.5  # 0.46: two Fed meetings on one site, one name, same words
    window: timedelta = DEFAULT_WINDOW
    max_entries: int = 20_000  # ~1.5 KB each, 3 KB at worst: 30-60 MB
    shingle: int = 1
    enabled: bool = True


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class StoryKey:
    """What `add()` reads of an entry before it looks at the index: its canonical link ("" for
    none) and its features (None when grouping is off). Pure, so the parser processes compute
    it for the entries they matched (prepare.py) and the index only looks it up."""

    link: str
    features: Features | None


def story_key(config: StoryConfig, title: str, text: str, link: str | None) -> StoryKey:
    return StoryKey(canonical_url(link) if link else "",
                    features(title, text, config.shingle) if config.enabled else None)


def story_lead(summary_text: str, content_text: str, outlet: str | None) -> str:
    """An entry's summary (else content) as read for its story. An aggregator's item is its
    outlet's article: Google News' lead is the title followed by the outlet's name, which is
    no part of the story (outlets.py)."""
    lead = summary_text or content_text
    if outlet and lead.endswith(outlet):
        lead = lead[:-len(outlet)].rstrip()
    return lead


_Posting = int | dict[int, int]  # see StoryIndex._postings


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
        self._postings: dict[int, _Posting] = {}
        self._ages: list[tuple[float, int]] = []  # heap of (at, entry id) for eviction
        self._latest = float("-inf")
        self._decoded: dict[int, Features] = {}  # entry id -> features, the DECODED latest

    def __len__(self) -> int:
        return len(self._slots)

    def story_of(self, entry_id: int) -> int | None:
        slot = self._slots.get(entry_id)
        return slot.row.story_id if slot else None

    def rows(self) -> list[StoryRow]:
        """The rows of the entries still in the window, oldest first."""
        return [s.row for s in sorted(self._slots.values(), key=lambda s: (s.at, s.row.entry_id))]

    def add_entry(self, entry: StoredEntry, entry_id: int | None = None,
                  key: StoryKey | None = None) -> StoryRow:
        """`add()` for a stored entry: its lead (`story_lead`), first seen as time.
        `entry_id`: the id the entry was just stored under, when `entry` was planned before
        (its id then 0); `key`: its story_key, when a parser process computed it."""
        return self.add(entry.id if entry_id is None else entry_id, entry.title,
                        story_lead(entry.summary_text, entry.content_text, entry.outlet),
                        entry.link, entry.first_seen, key)

    def add(self, entry_id: int, title: str, text: str, link: str | None,
            at: datetime, key: StoryKey | None = None) -> StoryRow:
        """Assign `entry_id` a story and return the row to persist. An entry already in the
        index keeps its story (an updated entry stays where it was). `key`: story_key() of
        the same title, text and link with this index's config, computed beforehand."""
        known = self._slots.get(entry_id)
        if known:
            return known.row
        ts = at.timestamp()
        if ts > self._latest:
            self._evict_before(ts - self._window)
        if key is None:
            key = story_key(self.config, title, text, link)
        canonical, feats = key.link, key.features
        keys = feats.keys() if feats else frozenset()
        found = list(map(self._postings.get, keys))  # read once: for candidates, then insert
        story = self._linked(canonical, ts)
        if story is None and feats is not None:
            story = self._similar(feats, found, ts, canonical)
        row = StoryRow(entry_id, entry_id if story is None else story, at, canonical,
                       feats.signature() if feats else b"")
        self._insert(row, ts, keys, found)
        if feats is not None:
            self._keep_decoded(entry_id, feats)
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
        A row whose signature this version cannot read keeps its story but attracts none.
        The rows kept are those add() would have kept; only they are then indexed, once,
        from the signature bytes (_index_kept): this runs for every `veille fetch` pass."""
        index = cls(config)
        if now is not None:
            index._latest = now.timestamp()
        rows = list(rows)
        slots, ages, window = index._slots, index._ages, index._window
        for ts, entry_id, i in sorted((r.at.timestamp(), r.entry_id, i) for i, r in enumerate(rows)):
            if entry_id in slots or ts < index._latest - window:
                continue
            while ages and ages[0][0] < ts - window:
                slots.pop(heapq.heappop(ages)[1], None)
            slots[entry_id] = _Slot(rows[i], ts)
            heapq.heappush(ages, (ts, entry_id))
            index._latest = max(index._latest, ts)
            while len(slots) > index.config.max_entries:
                slots.pop(heapq.heappop(ages)[1], None)
        index._index_kept()
        return index

    # --- internals ---------------------------------------------------------------------

    def _linked(self, canonical: str, ts: float) -> int | None:
        entry_id = self._links.get(canonical) if canonical else None
        slot = self._slots.get(entry_id) if entry_id is not None else None
        if slot and abs(ts - slot.at) <= self._window:
            return slot.row.story_id
        return None

    def _similar(self, feats: Features, found: list[_Posting | None], ts: float,
                 link: str) -> int | None:
        best: tuple[float, float, int] | None = None  # (-score, at, story id)
        min_shared = MIN_SHARED_TITLE if feats.title_only else MIN_SHARED
        for entry_id in self._candidates(found, min_shared):
            slot = self._slots[entry_id]
            if abs(ts - slot.at) > self._window:
                continue
            kept = self._decoded.get(entry_id)
            score, by_title, other = self._score(feats, slot.row.signature, kept)
            if other is not None:
                self._keep_decoded(entry_id, other)
            limit = self.config.title_threshold if by_title else self.config.threshold
            if score >= limit or not by_title and self._corroborated(feats, slot.row, score, link,
                                                                     other or kept):
                key = (-score, slot.at, slot.row.story_id)
                if best is None or key < best:
                    best = key
        return best[2] if best else None

    def _corroborated(self, feats: Features, row: StoryRow, score: float, link: str,
                      other: Features | None) -> bool:
        """Below the word threshold, still one story when the titles' names agree (two
        dispatches on one event), or for one site's two articles, an update (story_names).
        `other`: the row's features if decoded or kept already (each decoding costs ~15 us)."""
        config = self.config
        if score < min(config.names_threshold, config.site_threshold) or not feats.names \
                or row.signature[0] < 3 or not row.signature[4]:  # a side without names
            return False
        other = other or Features.from_signature(row.signature)
        if other is None or other.title_only or not feats.names or not other.names:
            return False
        shared = shared_names(feats.names, feats.text_set, other.names, other.text_set)
        if shared == 0 or other_period(feats, other):
            return False
        if shared >= 2 and score >= config.names_threshold and not loose_series(feats, other):
            return True
        return score >= config.site_threshold and _same_site(link, row.link)

    @staticmethod
    def _score(feats: Features, signature: bytes, decoded: Features | None
               ) -> tuple[float, bool, Features | None]:
        """The similarity, whether it is the titles', and the other side's features when they
        had to be decoded (the fast text score reads the signature bytes). `decoded`: those
        features, if kept from before."""
        fast = _text_jaccard(feats, signature)
        if fast is not None:
            return fast, False, None
        other = decoded or Features.from_signature(signature)
        return (*similarity(feats, other), other) if other else (0.0, False, None)

    def _keep_decoded(self, entry_id: int, feats: Features) -> None:
        decoded = self._decoded
        decoded.pop(entry_id, None)
        decoded[entry_id] = feats  # latest last
        if len(decoded) > DECODED:
            del decoded[next(iter(decoded))]

    @staticmethod
    def _candidates(found: list[_Posting | None], min_shared: int) -> list[int]:
        """The entries sharing the most of the new entry's rarest keys (rare: in the fewest
        stories), at least `min_shared` of them. A near-duplicate shares about half, a
        same-topic entry one or two; words in more than MAX_STORIES_PER_KEY stories are not
        read: they tell nothing and cost the most. Ties go to the latest entry.
        `found`: the postings of the new entry's keys (None for a key no entry has)."""
        single: list[int] = []
        several: list[dict[int, int]] = []
        for posting in found:
            if posting is None:
                continue
            if isinstance(posting, int):
                single.append(posting)
            elif len(posting) <= MAX_STORIES_PER_KEY:
                several.append(posting)
        rare = RARE_KEYS - len(single)
        if several and rare > 0:
            several.sort(key=len)
            for posting in several[:rare]:
                single.extend(posting.values())
        # counted in C: sorted, an entry there n times fills n places in a row, so one there
        # min_shared times or more is equal to the one min_shared - 1 places further
        single.sort()
        frequent = set(compress(single, map(eq, single, single[min_shared - 1:])))
        shared = [(single.count(entry_id), entry_id) for entry_id in frequent]
        if len(shared) > MAX_CANDIDATES:
            shared = sorted(shared, reverse=True)[:MAX_CANDIDATES]
        return [entry_id for _, entry_id in shared]

    def _insert(self, row: StoryRow, ts: float, keys: frozenset[int],
                found: list[_Posting | None]) -> None:
        """Index a new entry under `keys`, whose postings were `found` (add() read them)."""
        entry_id, slots = row.entry_id, self._slots
        slots[entry_id] = _Slot(row, ts)
        heapq.heappush(self._ages, (ts, entry_id))
        if ts > self._latest:
            self._latest = ts
        if row.link:
            self._links[row.link] = entry_id
        story, postings = row.story_id, self._postings
        for key, posting in zip(keys, found, strict=True):
            if posting is None:
                postings[key] = entry_id  # most words are in one story: no dict for them
            elif isinstance(posting, int):
                other = slots[posting].row.story_id
                postings[key] = entry_id if other == story else {other: posting, story: entry_id}
            else:
                posting[story] = entry_id
        while len(slots) > self.config.max_entries:
            self._drop(heapq.heappop(self._ages)[1])

    def _index_kept(self) -> None:
        """restore(): the links and postings of the entries kept, oldest first, as _insert
        would leave them (what an entry that left adds and removes cancels out: the latest
        entry of each story holds each key). Keys come straight from the signature bytes."""
        postings, links, story_of = self._postings, self._links, {}
        get, enabled = postings.get, self.config.enabled
        for entry_id, slot in self._slots.items():
            row = slot.row
            if row.link:
                links[row.link] = entry_id
            story = story_of[entry_id] = row.story_id
            for key in key_run(row.signature) if enabled else ():
                posting = get(key)
                if posting is None:
                    postings[key] = entry_id
                elif not isinstance(posting, int):
                    posting[story] = entry_id
                elif posting != entry_id:  # not a key repeated in this signature
                    other = story_of[posting]
                    postings[key] = entry_id if other == story else {other: posting,
                                                                     story: entry_id}
        postings.pop(0, None)  # the name separator

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
        postings = self._postings
        for key in index_keys(row.signature):
            posting = postings.get(key)
            if posting == entry_id:
                del postings[key]
            elif isinstance(posting, dict) and posting.get(row.story_id) == entry_id:
                del posting[row.story_id]
                if len(posting) == 1:
                    postings[key] = next(iter(posting.values()))


def _same_site(a: str, b: str) -> bool:
    """Two canonical links on one host ("www." aside): one outlet's articles."""
    if not a or not b:
        return False
    host_a, host_b = urlsplit(a).hostname or "", urlsplit(b).hostname or ""
    return bool(host_a) and host_a.removeprefix("www.") == host_b.removeprefix("www.")
