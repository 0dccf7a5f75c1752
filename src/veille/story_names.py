"""The second signal beside word overlap: the names in a title, and whether the other entry
carries them.

Two agencies writing one event (AFP and Reuters on the BCE rate cut, the Maroc earthquake)
share a quarter of their words at most, no more than two different events on one topic do
("Grève à l'usine Renault de Flins" / "Grève à l'usine Stellantis de Sochaux"). What tells
them apart is the names: each dispatch's title names what the other one mentions too (BCE,
Maroc, Sanofi and Doliprane, Claire Vasseur and the Goncourt), while a different event names
what the other lacks (Flins against Sochaux, Buitoni against Guigoz, Idalia against Helene).
So two entries with some word overlap are one story when every name of each title is found
in the other entry and at least two names are shared; an update of one article (the same
site) needs one shared name and more words in common.

A name is a run of capitalized words of the title ("Air France-KLM", "Claire Vasseur"), folded
and stemmed as story_signature folds words, so that it is looked up among the other entry's
word hashes. A capitalized first word ("Grève à...", "Séisme en Turquie") counts only if the
entry does not also use it in lower case. Weekdays, months and agency names say nothing.
Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .story_signature import Features

_TOKEN = re.compile(r"[^\W_][\w’'\-]*|[.:!?«»\"“”—–|;]")
_ELISION = re.compile(r"(?:[LDJNSCMTldjnscmt]|[Qq]u)['’]")  # "L'Assemblée", "d'Air France"
_DATE_WORDS = frozenset("""
lundi mardi mercredi jeudi vendredi samedi dimanche janvier fevrier mars avril mai juin
juillet aout septembre octobre novembre decembre monday tuesday wednesday thursday friday
saturday sunday january february march april may june july august september october november
december
""".split())
GENERIC_WORDS = [*_DATE_WORDS, "afp", "reuters", "ap", "mr", "mrs", "ms", "dr"]
LOOSE_TEMPLATE = 0.3  # title words alike (numbers aside) beyond which differing numbers count
SEPARATOR = 0  # between two names in a flat tuple of hashes (no word hashes to 0)


def title_names(title: str, lead: str, words_of: Callable[[str], tuple[str, ...]],
                stopwords: frozenset[str]) -> list[list[str]]:
    """The names of `title`, each a list of folded words (hashed, so stemmed, by the caller
    as it hashes every word). `words_of(token)` folds a capitalized token into the words a
    name may have: no stop words, numbers (story_signature.is_series deals with them),
    weekdays, months or agency names; the caller caches it, names recur.
    A capitalized word is a name unless the entry also writes it in lower case; one that is
    capitalized by position (first of the title or after a colon, or any word of a Title
    Case headline) must also be capitalized mid-sentence in the lead: "Pic de pollution",
    "Stock market today" name nothing, "Sanofi cède..." does when its lead says "le groupe
    Sanofi". This runs on every entry at ingest: plain substring searches, no stemming."""
    tokens = [_unelide(t) if "'" in t or "’" in t else t for t in _TOKEN.findall(title)]
    if not any(t[0].isupper() for t in tokens):
        return []
    text = f" {title} {lead}"
    title_case: bool | None = None  # read only when a name is capitalized mid-title
    names: list[list[str]] = []
    run: list[str] = []
    start = True
    for token in tokens:
        if not token[0].isalnum():
            start = True
        elif token[0].isupper():
            words = words_of(token)
            is_name = bool(words) and not _in_lower_case(token, text)
            if is_name and not token.isupper():
                if not start and title_case is None:
                    title_case = _title_case(tokens, stopwords)
                if start or title_case:
                    is_name = _mid_sentence(token, lead)
            start = False
            if is_name:
                run.extend(words)
                continue
        else:
            start = False
        if run:
            names.append(run)
            run = []
    if run:
        names.append(run)
    return names


def _unelide(token: str) -> str:
    elided = _ELISION.match(token)
    return token[elided.end():] or token if elided else token


def _title_case(tokens: list[str], stopwords: frozenset[str]) -> bool:
    """ "Biden Formally Blocks U.S. Steel Deal": capitals say nothing of names."""
    content = [t for t in tokens if len(t) > 3 and t[0].isalpha()
               and t.lower() not in stopwords and t.lower() not in _DATE_WORDS]
    return len(content) >= 3 and sum(t[0].isupper() for t in content) >= 0.7 * len(content)


def _in_lower_case(token: str, text: str) -> bool:
    """The entry writes the word in lower case too, at least its first 6 letters (the stem
    story_signature compares): "Disparition" beside "disparue", "Grève" beside "grève". Plain
    substring search: this runs on every entry at ingest."""
    prefix = token[:6].lower()
    if len(token) < 6:  # a short word whole: "Dow" is not "down"
        return _whole_word(prefix, text)
    at = text.find(prefix, 1)  # one search, not one per character that may come before
    while at > 0:
        if text[at - 1] in " '’(-":  # a word's start, an elision, a hyphenated compound
            return True
        at = text.find(prefix, at + 1)
    return False


def _whole_word(word: str, text: str) -> bool:
    """`word`, or it with an s or x after it, stands alone in `text` (no word character on
    either side: regex \\w is str.isalnum() or "_"). The regex (?<!\\w)word[sx]?(?!\\w)
    says the same, but was built, cached and run over the whole text for each short word."""
    at, end = text.find(word), len(text)
    while at >= 0:
        after = at + len(word)
        if at == 0 or not _is_word_char(text[at - 1]):
            if after == end or not _is_word_char(text[after]):
                return True
            if text[after] in "sx" and (after + 1 == end or not _is_word_char(text[after + 1])):
                return True
        at = text.find(word, at + 1)
    return False


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _mid_sentence(token: str, lead: str) -> bool:
    """The lead capitalizes the word where no sentence starts: "le groupe Sanofi"."""
    at = lead.find(token)
    while at > 1:
        if lead[at - 1] == " " and lead[at - 2] not in ".!?:»\"":
            return True
        at = lead.find(token, at + 1)
    return False


def flatten(names: Iterable[Sequence[int]]) -> tuple[int, ...]:
    out: list[int] = []
    for name in names:
        if out:
            out.append(SEPARATOR)
        out.extend(name)
    return tuple(out)


def split(flat: Sequence[int]) -> list[tuple[int, ...]]:
    names: list[tuple[int, ...]] = []
    current: list[int] = []
    for h in flat:
        if h == SEPARATOR:
            names.append(tuple(current))
            current = []
        else:
            current.append(h)
    if current:
        names.append(tuple(current))
    return names


def shared_names(names_a: Sequence[int], words_a: frozenset[int], names_b: Sequence[int],
                 words_b: frozenset[int]) -> int:
    """How many distinct names both entries carry, when every title name of each is found in
    the other entry's words; 0 when one title names what the other entry lacks."""
    found: set[tuple[int, ...]] = set()
    for names, other in ((names_a, words_b), (names_b, words_a)):
        for name in split(names):
            if not other.issuperset(name):
                return 0
            found.add(name)
    return len(found)


def other_period(a: Features, b: Features) -> bool:
    """Each title names a day or month the other lacks ("en mai" / "en juin"): two releases
    of one statistic, two meetings of one board, not one story."""
    dates = _date_hashes()
    return _differ(a.title_set & dates, b.title_set & dates)


def loose_series(a: Features, b: Features) -> bool:
    """Titles with different numbers and a third of their other words alike ("Dow rises 200
    points" / "Dow falls 150 points"): names agreeing do not make these one story. Two
    agencies' titles on one event share fewer words (0.1-0.15 on the labelled pairs)."""
    from .story_signature import _jaccard, numbers_differ

    if not numbers_differ(a.numbers, b.numbers):
        return False
    words_a, words_b = a.title_set.difference(a.numbers), b.title_set.difference(b.numbers)
    return _jaccard(words_a, words_b, False) >= LOOSE_TEMPLATE


def _differ(a: frozenset[int], b: frozenset[int]) -> bool:
    return bool(a - b) and bool(b - a)


_DATES: list[frozenset[int]] = []


def _date_hashes() -> frozenset[int]:
    if not _DATES:
        from .story_signature import _shingles_list

        _DATES.append(frozenset(_shingles_list(sorted(_DATE_WORDS))))
    return _DATES[0]
