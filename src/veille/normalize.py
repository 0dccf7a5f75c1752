"""Text folding for matching, HTML to plain text, canonical links and entry identity.

Folding is what makes `nestlé` find "NESTLÉ" and `coeur` find "cœur": accents are dropped,
ligatures expanded, case folded, typographic apostrophes made plain. It runs on every stored
entry, so the common path is a handful of C-level string operations, not a Python loop.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from html import unescape
from urllib.parse import SplitResult, parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

# Characters NFKD does not decompose but a French reader treats as their letters.
_FOLD_TABLE = str.maketrans({
    "œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "ð": "d", "Ð": "d",
    "þ": "th", "Þ": "th", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ı": "i",
    "’": "'", "‘": "'", "ʼ": "'", "′": "'",
})
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Case-, accent- and ligature-insensitive form of `text`; idempotent."""
    if text.isascii():
        return text.lower()
    text = _strip_marks(text).casefold()
    # casefold can itself produce decomposable letters ("ǰ"); a second pass makes fold idempotent
    return text if text.isascii() else _strip_marks(text)


def _strip_marks(text: str) -> str:
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_FOLD_TABLE)))


def words(text: str) -> list[str]:
    """The folded words of `text`; apostrophes, hyphens and all punctuation separate words."""
    return _WORD.findall(fold(text))


def _slow_token_text(text: str) -> str:
    return " " + " ".join(_WORD.findall(fold(text))) + " "


# Fast path for Latin text, which is nearly all of what veille reads: one bytes.translate()
# folds case and accents and turns punctuation into spaces, then split/join collapses them.
# Characters outside Latin-1 that French text uses daily are replaced first; anything else
# (Cyrillic, combining marks, ½…) takes the exact path. A property test keeps both equal.
_PRE_REPLACE = (("’", " "), ("‘", " "), ("“", " "), ("”", " "), ("„", " "), ("—", " "),
                ("–", " "), ("…", " "), ("•", " "), ("€", " "), ("œ", "oe"), ("Œ", "oe"),
                ("\u202f", " "), ("\u2009", " "), ("\u200b", " "), ("æ", "ae"), ("Æ", "ae"),
                ("ß", "ss"))
_SLOW = 1  # marks a Latin-1 character the table cannot fold alone


def _latin1_table() -> bytes:
    table = bytearray()
    for i in range(256):
        folded = _slow_token_text(chr(i)).strip()
        if not folded:
            table.append(0x20)
        elif len(folded) == 1 and folded.isascii():
            table.append(ord(folded))
        else:
            table.append(_SLOW)
    return bytes(table)


_LATIN1 = _latin1_table()


def token_text(text: str) -> str:
    """Folded words joined by single spaces with a space at each end: " l oreal rachete ".

    With this form, a whole word is the substring " w ", a phrase " w1 w2 " and a prefix " p",
    so every kind of term is a plain substring search (and one Aho-Corasick pass finds all).
    """
    fast = _fast_token_text(text)
    return _slow_token_text(text) if fast is None else fast


def word_aligned_token_text(text: str) -> tuple[str, bool]:
    """token_text(text), and whether its tokens are the words of `text` one for one (the fast
    path's promise), so that a word's index in one is its index in the other."""
    fast = _fast_token_text(text)
    return (_slow_token_text(text), False) if fast is None else (fast, True)


def _fast_token_text(text: str) -> str | None:
    """None when the text needs the exact path. Each source word gives exactly one token."""
    for old, new in _PRE_REPLACE:
        if old in text:
            text = text.replace(old, new)
    try:
        data = text.encode("latin-1").translate(_LATIN1)
    except UnicodeEncodeError:
        return None
    if _SLOW in data:
        return None
    return " " + b" ".join(data.split()).decode("ascii") + " "


# scheme://[userinfo@]host[:port] then the path, query, fragment or the end; anything odder
# (whitespace, IPv6 brackets, two @, a port that is not digits) is left to urlsplit
_URL_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:@\[\]\s]*)(?::\d*)?(?:[/?#]|$)")


def url_host(url: str | None) -> str:
    """A URL's host name, lower case, without "www.": urlsplit's hostname at a quarter of the
    cost (it runs for every stored entry's link)."""
    if not url:
        return ""
    found = _URL_HOST.match(url)
    if found is not None and url[-1] > " ":
        host = found.group(1).lower()
    else:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return ""
    return host.removeprefix("www.")


def word_spans(text: str) -> tuple[str, list[tuple[int, int]]]:
    """token_text(text) and, for each of its words, the (start, end) of that word in `text`.

    Used only to place snippets and highlights of matched entries. Folding keeps one word per
    source word in all but odd cases (a lone combining mark, "½"); those are mapped character
    by character.
    """
    doc = _fast_token_text(text)
    if doc is not None:
        return doc, list(map(re.Match.span, _WORD.finditer(text)))
    joined, offsets = _token_text_with_offsets_by_char(text)
    spans, start = [], 1
    while start < len(joined) - 1:
        end = joined.index(" ", start)
        spans.append((offsets[start], offsets[end - 1] + 1))
        start = end + 1
    return joined, spans


def first_position(text: str, patterns: Iterable[str], doc: str | None = None) -> int | None:
    """The index in `text` where the earliest of the token-text patterns starts, or None.

    The fast path counts words up to the hit instead of mapping them all: snippets are made
    for every match as it is stored, so this is on the ingest path. `doc`: token_text(text)
    when the caller has it and it is word-aligned (word_aligned_token_text), as the fast
    path's is: it then takes the fast path's place.
    """
    if doc is None:
        doc = _fast_token_text(text)
    if doc is None:
        doc, spans = word_spans(text)
        found = [doc.find(p) for p in patterns]
        found = [f for f in found if f != -1]
        return spans[doc.count(" ", 0, min(found))][0] if found else None
    found = [f for f in (doc.find(p) for p in patterns) if f != -1]
    if not found:
        return None
    return _word_start(text, doc.count(" ", 0, min(found)))


@lru_cache(maxsize=1024)
def _skip_words(count: int) -> re.Pattern[str]:
    """`count` words of _WORD and what separates them: the regex engine walks them in one
    call, several times faster than stepping through finditer's matches."""
    return re.compile(r"(?:[\W_]*[^\W_]+){" + str(count) + r"}[\W_]*")


def _word_start(text: str, index: int) -> int:
    """Where the word numbered `index` (from 0, as _WORD splits) starts in `text`."""
    skipped = _skip_words(index).match(text)
    assert skipped is not None
    return skipped.end()


def _token_text_with_offsets_by_char(text: str) -> tuple[str, list[int]]:
    out, offsets = [" "], [0]
    space = True
    for i, ch in enumerate(text):
        for c in fold(ch):
            if c.isalnum():
                out.append(c)
                offsets.append(i)
                space = False
            elif not space:
                out.append(" ")
                offsets.append(i)
                space = True
    if not space:
        out.append(" ")
        offsets.append(len(text))
    return "".join(out), offsets


# --- HTML -------------------------------------------------------------------------------------

_DROP_BLOCKS = re.compile(r"<(script|style|template|noscript)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][a-zA-Z0-9]*)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>",
                  re.S)
_INLINE = frozenset(
    ["a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd", "mark",
     "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr"]
)


def _tag_space(m: re.Match[str]) -> str:
    name = m.group(2)
    return "" if name and name.lower() in _INLINE else " "


def html_to_text(html: str) -> str:
    """Readable plain text: tags out, entities decoded, block boundaries kept as spaces.

    Inline tags vanish without a space so that `Nestl<em>é</em>` stays one word; block tags
    become a space so that `<p>Orange</p><p>Rie</p>` never reads as "OrangeRie".
    """
    if "<" not in html and "&" not in html:
        return " ".join(html.split())
    text = _TAG.sub(_tag_space, _DROP_BLOCKS.sub(" ", html))
    return " ".join(unescape(text).split())


# --- links ------------------------------------------------------------------------------------

_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|mc_\w+|yclid|igshid|_hsenc|"
    r"_hsmi|mkt_tok|oly_anon_id|oly_enc_id|vero_id|wt_mc|xtor|at_medium|at_campaign|"
    r"ref_src|ncid|cmpid|__twitter_impression)$",
    re.I,
)
_REDIRECTORS = {"www.google.com": "/url", "google.com": "/url", "news.google.com": "/url"}


def unwrap_redirector(url: str) -> str:
    """Google Alerts and Google News wrap links (google.com/url?url=…); return the article's."""
    return _unwrapped(urlsplit(url)) or url


def _unwrapped(parts: SplitResult) -> str | None:
    if _REDIRECTORS.get(parts.hostname or "") == parts.path:
        for key, value in parse_qsl(parts.query):
            if key in ("url", "q") and value.startswith(("http://", "https://")):
                return value
    return None


def clean_link(url: str) -> str:
    """The link to show or send: the article itself (redirector unwrapped) without tracking
    parameters, otherwise as the feed gave it (scheme, case, path and the other parameters'
    spelling kept, unlike canonical_url, which is for comparing, not for clicking).
    Tracking hides in the fragment too (`#xtor=RSS-2`)."""
    url = unwrap_redirector(url.strip())
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or "=" not in url:
        return url
    query, fragment = _without_tracking(parts.query), _without_tracking(parts.fragment)
    if query is None and fragment is None:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path,
                       parts.query if query is None else query,
                       parts.fragment if fragment is None else fragment))


def _without_tracking(query: str) -> str | None:
    """The `k=v` segments that are not tracking, each written as it was; None when there
    was nothing to drop. A feed that escaped its links twice writes `&amp;` between them."""
    if "=" not in query:
        return None
    segments = query.replace("&amp;", "&").split("&")
    kept = [s for s in segments if not _TRACKING.match(unquote_plus(s.partition("=")[0]))]
    return None if len(kept) == len(segments) else "&".join(kept)


def canonical_url(url: str) -> str:
    """One spelling per article: lower-case scheme and host, no default port, no fragment,
    no tracking parameters, no trailing slash, redirectors unwrapped. http and https are one.
    (Split once, and the query rebuilt only when there is one: this runs for every entry a
    story is looked for.)"""
    url = url.strip()
    try:
        parts = urlsplit(url)
        unwrapped = _unwrapped(parts)
        if unwrapped is not None:
            url, parts = unwrapped, urlsplit(unwrapped)
        port = parts.port
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower()
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = parts.query and urlencode([
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.match(k)])
    path = parts.path.rstrip("/")
    return urlunsplit(("https", host, path, query, ""))


def entry_key(guid: str | None, link: str | None, title: str, content: str) -> str:
    """Identity within a feed: the guid, else the canonical link, else a hash of the text."""
    if guid and guid.strip():
        return "id:" + guid.strip()
    if link and link.strip():
        return "link:" + canonical_url(link)
    digest = hashlib.sha1(f"{title}\x1f{content}".encode("utf-8", "surrogatepass")).hexdigest()
    return "hash:" + digest
