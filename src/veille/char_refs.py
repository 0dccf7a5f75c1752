"""Numeric character references that name no character, repaired before feedparser reads a
document.

Some publishing tools write an emoji as the two UTF-16 halves it is made of, each as a
reference (`&#55357;&#56832;` for 😀), or cut one pair in two. XML allows neither, so the fast
reader declines such a document and feedparser's loose parser takes it, which turns each half
into a lone surrogate and then fails on it ("surrogates not allowed"), as it does on a
reference past U+10FFFF: one bad reference cost the whole feed. Here two adjacent halves of a
pair become a reference to the character they make, and any other reference that names no
character becomes U+FFFD, as a decoder does with a bad byte.

Only documents where `&#` can only be those two characters are repaired (UTF-8, Latin-1,
cp1252, Shift_JIS, GB18030...): one in UTF-16 or UTF-32 (a byte-order mark, or a NUL in its
first bytes), ISO-2022 (ESC) or HZ (`~{`) is left as it is, since there the same bytes may
be halves of other characters and replacing them would shift the rest. References inside
CDATA sections and comments are text, not references: they are left too, so that such a
document gives the same entries whichever parser reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_REF = re.compile(rb"&#(?:([0-9]+)|[xX]([0-9a-fA-F]+));")
#: where text that holds no references starts and ends
_TEXT_SPANS = ((b"<![CDATA[", b"]]>"), (b"<!--", b"-->"))
_NOT_ASCII_BASED = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_REPLACEMENT = b"&#65533;"
_PAST_UNICODE = 0x110000


def _code(ref: re.Match[bytes]) -> int:
    """The code point a reference names, leading zeros aside; past Unicode when it has more
    than 7 digits (feedparser fails on any that does not fit a C int)."""
    decimal, hexadecimal = ref.groups()
    digits = (decimal if decimal is not None else hexadecimal).lstrip(b"0") or b"0"
    if len(digits) > 7:
        return _PAST_UNICODE
    return int(digits, 10 if decimal is not None else 16)


def repair_char_refs(body: bytes) -> bytes:
    """`body` with its surrogate and out-of-range references repaired (itself when none)."""
    if b"&#" not in body or not _ascii_based(body):
        return body
    refs = _outside(_REF.finditer(body), _text_spans(body))
    parts: list[bytes] = []
    done = 0  # where the body is copied up to
    i = 0
    while i < len(refs):
        ref, code = refs[i], _code(refs[i])
        if 0xD800 <= code < 0xDC00 and i + 1 < len(refs) and refs[i + 1].start() == ref.end():
            low = _code(refs[i + 1])
            if 0xDC00 <= low < 0xE000:
                char = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                parts += [body[done:ref.start()], b"&#%d;" % char]
                done = refs[i + 1].end()
                i += 2
                continue
        if 0xD800 <= code < 0xE000 or code >= _PAST_UNICODE:
            parts += [body[done:ref.start()], _REPLACEMENT]
            done = ref.end()
        i += 1
    if not parts:
        return body
    parts.append(body[done:])
    return b"".join(parts)


def _ascii_based(body: bytes) -> bool:
    return not (body.startswith(_NOT_ASCII_BASED) or b"\x00" in body[:4] or b"\x1b" in body
                or b"~{" in body)


def _text_spans(body: bytes) -> list[tuple[int, int]]:
    """(start, end) of the CDATA sections and comments, in order. One left open is no span
    (the document is not well-formed, so only feedparser reads it, and its references are
    repaired), nor is any later one of its kind, which has no closer either. Linear: each
    opener is searched for from where the last one was found, never again from every
    position (a regex with `.*?` to the closer took 11 s on 80 KB of unclosed comments, and
    grows with the square of the size)."""
    spans: list[tuple[int, int]] = []
    found = {opener: body.find(opener) for opener, _ in _TEXT_SPANS}
    pos = 0
    while True:
        for opener in found:
            if 0 <= found[opener] < pos:
                found[opener] = body.find(opener, pos)
        starts = [(at, opener, closer) for opener, closer in _TEXT_SPANS
                  if (at := found[opener]) >= 0]
        if not starts:
            return spans
        start, opener, closer = min(starts)
        end = body.find(closer, start + len(opener))
        if end < 0:
            found[opener] = -1
            continue
        pos = end + len(closer)
        spans.append((start, pos))


def _outside(refs: Iterable[re.Match[bytes]], spans: list[tuple[int, int]]
             ) -> list[re.Match[bytes]]:
    """The references that do not start inside a span (both in document order)."""
    kept, i = [], 0
    for ref in refs:
        while i < len(spans) and spans[i][1] <= ref.start():
            i += 1
        if i == len(spans) or ref.start() < spans[i][0]:
            kept.append(ref)
    return kept
