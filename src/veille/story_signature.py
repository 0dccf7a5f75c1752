"""What two entries are compared on: a story signature of the folded words of an entry's title
and first paragraph, and the similarity of two signatures.

Words are folded (normalize.token_text), stop words dropped, cut to a light stem so that
"disparition" and "disparue" agree, and hashed (one cached crc32 per word). A bottom-k sketch
of the 96 smallest hashes is, for nearly every entry, the whole set, so Jaccard is exact. Two
titles that carry different numbers but are otherwise one template ("puzzle #1,024" and
"#1,025") are two items of one series, not one story. Pure: no clock, no I/O; the index that
uses this is stories.py.
"""

from __future__ import annotations

import re
import sys
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .normalize import token_text
from .story_names import GENERIC_WORDS, flatten, title_names

SKETCH_SIZE = 96  # smallest word hashes kept per entry: the whole set for typical entries
INDEXED = 16  # of those, how many go into the inverted index
TITLE_SIZE = 24  # title shingles kept (titles longer than this are rare)
MIN_TITLE = 4  # a title-only entry needs this many content words to be compared at all
MIN_BODY = 4  # fewer content words than this in the first paragraph: a title-only entry
FIRST_PARAGRAPH = 500  # characters of summary read: the lead, not the whole article
NAMES_SIZE = 24  # name hashes kept (separators included)
TEMPLATE = 0.6  # titles this alike once numbers are set aside: one template, a series
STEM = 6  # letters of a word kept once a plural s/x is off: "disparition", "disparue" agree
_SIGNATURE_VERSION = 3  # 2: stemmed words, title numbers; 3: title names (story_names.py)
_READABLE = (2, 3)  # a version 2 signature has no names: it attracts by word overlap only

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
_STOP = -1  # the hash _content_hashes gives a stop word (a word's hash is a uint32)
_HASHES: dict[str, int] = {}  # folded word -> its hash, _STOP for a stop word
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
    names: tuple[int, ...] = ()  # the title's names, word hashes, story_names.SEPARATOR between

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
        that a title-only aggregator item finds the article whose title it repeats) and name
        hash (so that two dispatches sharing little but names meet)."""
        return frozenset(self.text[:INDEXED]).union(self.title, self.names).difference((0,))

    def signature(self) -> bytes:
        """Plain bytes a store can keep: version, flags, title count, number count, name hash
        count and 3 bytes of padding, then uint32 hashes (numbers, names, title, text)."""
        hashes = array("I", self.numbers + self.names + self.title + self.text)
        if _BIG_ENDIAN:
            hashes.byteswap()
        flags = self.title_only | self.truncated << 1
        head = (_SIGNATURE_VERSION, flags, len(self.title), len(self.numbers), len(self.names),
                0, 0, 0)
        return bytes(head) + hashes.tobytes()

    @classmethod
    def from_signature(cls, data: bytes) -> Features | None:
        """None for an empty or foreign signature: that entry keeps its story, attracts none.
        (Version 1 hashed unstemmed words: its entries leave the window within 72 h.)"""
        if len(data) < 4 or data[0] not in _READABLE or len(data) % 4:
            return None
        hashes = array("I")
        hashes.frombytes(data[_head(data):])
        if _BIG_ENDIAN:
            hashes.byteswap()
        k = data[3]
        m = k + (data[4] if data[0] >= 3 else 0)
        n = m + data[2]
        return cls(tuple(hashes[m:n]), tuple(hashes[n:]), bool(data[1] & 1), bool(data[1] & 2),
                   tuple(hashes[:k]), tuple(hashes[k:m]))


def index_keys(signature: bytes) -> set[int]:
    """Features.from_signature(signature).keys() read straight from the bytes, for an entry
    leaving the index (empty for a signature this version cannot read)."""
    keys = set(key_run(signature))
    keys.discard(0)
    return keys


def key_run(signature: bytes) -> Sequence[int]:
    """The hashes index_keys() makes a set of, as they lie in the signature (names, title,
    then text follow one another): a name separator 0 and repeats included. restore() reads
    this for every stored row, so it decodes nothing else."""
    if len(signature) < 4 or signature[0] not in _READABLE or len(signature) % 4:
        return ()
    start = signature[3]
    stop = start + (signature[4] if signature[0] >= 3 else 0) + signature[2] + INDEXED
    if _BIG_ENDIAN:
        hashes = array("I")
        hashes.frombytes(signature[_head(signature):])
        hashes.byteswap()
        return hashes[start:stop]
    return memoryview(signature)[_head(signature):].cast("I")[start:stop]


def features(title: str, text: str, shingle: int = 1) -> Features:
    """Features of an entry from its title and summary (only the first paragraph is read).
    This runs on every entry at ingest: each word is looked up once (_content_hashes), stop
    words included, and what is counted or compared is the hashes, not the words."""
    title = strip_outlet_suffix(title)
    raw_lead = _lead(text)
    title_folded = _fold(title)
    lead = _fold(raw_lead)
    if len(title_folded) > 2 and lead.startswith(title_folded):  # aggregators repeat the title
        lead = lead[len(title_folded) - 1:]
    if shingle > 1:
        return _shingled_features(title_folded, lead, shingle)
    title_tokens = title_folded.split()
    title_hashes = _content_hashes(title_tokens)
    body_hashes = _content_hashes(lead.split())
    title_only = len(body_hashes) - body_hashes.count(_STOP) < MIN_BODY
    title_set = set(title_hashes)
    title_set.discard(_STOP)
    # stop words are all alphabetic: a word with a digit is never one
    numbers = sorted({h for w, h in zip(title_tokens, title_hashes, strict=True)
                      if not w.isalpha()})
    if title_only:
        text_set = title_set
    else:
        text_set = title_set.union(body_hashes)
        text_set.discard(_STOP)
    text_sorted = sorted(text_set)
    names = title_names(title, raw_lead, _name_words, _STOPWORDS)
    return Features(tuple(sorted(title_set)[:TITLE_SIZE]), tuple(text_sorted[:SKETCH_SIZE]),
                    title_only, len(text_sorted) > SKETCH_SIZE, tuple(numbers[:TITLE_SIZE]),
                    flatten(_shingles_list(name) for name in names)[:NAMES_SIZE])


def _shingled_features(title_folded: str, lead: str, shingle: int) -> Features:
    """features() with shingles of `shingle` consecutive words (an evaluated alternative,
    bench/eval_stories.py --shingle 2): no names, hashes of word runs."""
    title_words = [w for w in title_folded.split() if w not in _STOPWORDS]
    body_words = [w for w in lead.split() if w not in _STOPWORDS]
    title_only = len(body_words) < MIN_BODY
    title_set = _shingles(title_words, shingle)
    numbers = tuple(sorted(_shingles([w for w in title_words if not w.isalpha()], 1)))
    text_set = title_set if title_only else _shingles(title_words + body_words, shingle)
    text_sorted = sorted(text_set)
    return Features(tuple(sorted(title_set)[:TITLE_SIZE]), tuple(text_sorted[:SKETCH_SIZE]),
                    title_only, len(text_sorted) > SKETCH_SIZE, numbers[:TITLE_SIZE], ())


@lru_cache(maxsize=1 << 15)
def _name_words(token: str) -> tuple[str, ...]:
    """The words of a capitalized title token that may be part of a name (story_names)."""
    return tuple(w for w in _fold(token).split() if len(w) > 1 and w not in _STOPWORDS
                 and w.isalpha() and _stem(w) not in _GENERIC_STEMS)


def strip_outlet_suffix(title: str) -> str:
    """ "Titre - Le Monde" -> "Titre": aggregators and some feeds append the outlet's name.
    A tail of up to four words after a spaced dash or bar is taken for a name. A wire
    service's revision mark ("UPDATE 3-") goes too: its number is not the story's."""
    if title[:1] in "UCRW" and (mark := _WIRE_PREFIX.match(title)):
        title = title[mark.end():]
    cut = max(map(title.rfind, _SEPARATORS))
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


def _token_hash(word: str) -> int:
    """crc32 is stable across processes (str hash is salted) and fast; fmix32 spreads it so
    that the smallest hashes are a fair sample of the words. Cached, stop words as _STOP."""
    if len(_HASHES) > 1 << 18:
        _HASHES.clear()
    h = _HASHES[word] = _STOP if word in _STOPWORDS else _fmix(zlib.crc32(_stem(word).encode()))
    return h


def _word_hash(word: str) -> int:
    """The hash of any word, a stop word's too (a name's words, the date words)."""
    h = _HASHES.get(word)
    if h is None:
        h = _token_hash(word)
    return _fmix(zlib.crc32(_stem(word).encode())) if h == _STOP else h


def _content_hashes(words: list[str]) -> list[int]:
    """The hash of each word, _STOP for a stop word: one dict lookup a word, in C when every
    word has been seen before (nearly always once the window is warm)."""
    try:
        return list(map(_HASHES.__getitem__, words))
    except KeyError:
        get = _HASHES.get
        return [h if (h := get(w)) is not None else _token_hash(w) for w in words]


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


def _shingles_list(words: list[str]) -> list[int]:
    return [_word_hash(w) for w in words]


def _head(signature: bytes | memoryview) -> int:
    """Bytes before the hashes: 4 in version 2, 8 from version 3 (the name count)."""
    return 4 if signature[0] == 2 else 8


def _shingles(words: list[str], size: int) -> set[int]:
    if size <= 1 or len(words) < size:
        return {_word_hash(w) for w in set(words)}
    hashes = [_word_hash(w) for w in words]
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
    skip = signature[2] + signature[3] + (signature[4] if signature[0] >= 3 else 0)
    text = memoryview(signature)[_head(signature) + 4 * skip:].cast("I")
    inter = len(new.text_set.intersection(text))
    return inter / (len(new.text) + len(text) - inter)


_GENERIC_STEMS = frozenset(_stem(w) for w in GENERIC_WORDS)  # weekdays, months, agencies
