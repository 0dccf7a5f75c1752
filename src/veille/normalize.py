"""Text folding for matching, HTML to plain text, canonical links and entry identity.

Folding is what makes `nestlé` find "NESTLÉ" and `coeur` find "cœur": accents are dropped,
ligatures expanded, case folded, typographic apostrophes made plain. It runs on every stored
entry, so the common path is a handful of C-level string operations, not a Python loop.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def token_text(text: str) -> str:
    """Folded words joined by single spaces with a space at each end: " l oreal rachete ".

    With this form, a whole word is the substring " w ", a phrase " w1 w2 " and a prefix " p",
    so every kind of term is a plain substring search (and one Aho-Corasick pass finds all).
    """
    return " " + " ".join(_WORD.findall(fold(text))) + " "


def token_text_with_offsets(text: str) -> tuple[str, list[int]]:
    """token_text(text) plus, for each of its characters, the index of the source character.

    Slower (a Python loop); used only to place snippets and highlights for matched entries.
    """
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
    parts = urlsplit(url)
    if _REDIRECTORS.get(parts.hostname or "") == parts.path:
        for key, value in parse_qsl(parts.query):
            if key in ("url", "q") and value.startswith(("http://", "https://")):
                return value
    return url


def canonical_url(url: str) -> str:
    """One spelling per article: lower-case scheme and host, no default port, no fragment,
    no tracking parameters, no trailing slash, redirectors unwrapped. http and https are one."""
    url = unwrap_redirector(url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower()
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
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
