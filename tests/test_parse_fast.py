"""The fast parse path gives exactly what feedparser gives, or declines.

tests/data/feedparser/ holds a sample of feedparser's own test corpus (BSD-2-Clause, see the
LICENSE file there): documents the fast path accepts (accepted/) must give the same ParsedFeed
on both paths; tricky ones (declined/: not well-formed, entities, DTDs, exotic encodings,
xml:base, Atom sources) must go to feedparser. bench/compare_parsers.py runs the whole corpus.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.models import ParsedFeed
from veille.parse import parse_feed
from veille.parse_fast import read_fast
from veille.parser_pool import ParserPool

from .conftest import rss

DATA = Path(__file__).parent / "data" / "feedparser"
ACCEPTED = sorted((DATA / "accepted").iterdir())
DECLINED = sorted((DATA / "declined").iterdir())
GOLDEN = Path(__file__).parent / "golden"
XML = {"content-type": "application/xml"}


def both(body: bytes, headers: dict[str, str] = XML, url: str = "https://fil.example/feed"
         ) -> tuple[object, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # feedparser's updated -> published
        fast = parse_feed(url, body, headers)
        slow = parse_feed(url, body, headers, fast=False)
    return (plain(fast) if isinstance(fast, ParsedFeed) else fast,
            plain(slow) if isinstance(slow, ParsedFeed) else slow)


def plain(parsed: ParsedFeed) -> dict:
    """Every field, but the fast reader's item fingerprints (which feedparser has no part
    in: they are how the next parse skips stored items, not what an entry says)."""
    data = asdict(parsed)
    data["entries"] = [{k: v for k, v in e.items() if k != "fingerprint"}
                       for e in data["entries"]]
    return data


def accepts(body: bytes, headers: dict[str, str] = XML) -> bool:
    return read_fast(body, {**headers, "content-location": "https://fil.example/feed"}) is not None


@pytest.mark.parametrize("path", ACCEPTED, ids=[p.name for p in ACCEPTED])
def test_accepted_corpus_documents_give_what_feedparser_gives(path: Path):
    body = path.read_bytes()
    assert accepts(body)
    fast, slow = both(body)
    assert fast == slow


@pytest.mark.parametrize("path", DECLINED, ids=[p.name for p in DECLINED])
def test_tricky_corpus_documents_go_to_feedparser(path: Path):
    assert not accepts(path.read_bytes())


@pytest.mark.parametrize("name", ["rss20.xml", "rss10.rdf", "atom10.xml", "googlenews.xml"])
def test_golden_feeds_take_the_fast_path_unchanged(name: str):
    body = (GOLDEN / name).read_bytes()
    assert accepts(body)
    fast, slow = both(body)
    assert fast == slow


def test_an_aggregator_item_is_credited_to_its_outlet_on_the_fast_path():
    """Google News' <source url> names the outlet on either path (outlets.credit reads it)."""
    body = (GOLDEN / "googlenews.xml").read_bytes()
    assert accepts(body)
    fast, _ = both(body)
    assert isinstance(fast, dict)
    first = fast["entries"][0]
    assert first["outlet"] == "Le Monde" and not first["title"].endswith(" - Le Monde")


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">
<title type="html">L&amp;#8217;Œuvre &lt;b&gt;du jour&lt;/b&gt;</title>
<link href="/"/><id>urn:fil</id><updated>2026-11-24T08:00:00Z</updated>
<entry><title>Relative id</title><id>billet-1</id><updated>2026-11-24T08:00:00+01:00</updated>
<author><name>Jeanne Dupont</name><email>jeanne@fil.example</email></author>
<category term="Politique" label="La politique"/><category scheme="s" label="Sans terme"/>
<summary>a &lt; b</summary><content type="html">&lt;p&gt;Texte&amp;nbsp;: l’Œuvre&lt;/p&gt;</content>
</entry>
<entry><title>Lien alternatif</title><id>tag:fil.example,2026:2</id>
<link rel="alternate" type="text/html" href="billets/2?utm_source=x"/><link rel="enclosure" href="a.mp3"/>
<published>2026-11-24T09:00:00Z</published></entry>
<entry><title>Sans id</title><content>texte brut &amp; plus</content></entry>
<entry><id>x-4</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">L’<em>Œuvre</em></div></title>
<content type="xhtml"> <div xmlns="http://www.w3.org/1999/xhtml"><p CLASS="a" rel="NoFollow">Un<br/>deux
&amp; <a href="/x" title='"q"'>lien</a><!-- c --> fin</p><div>imbriqué</div></div> </content></entry>
</feed>"""

RDF = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://fil.example/"><title>Fil RDF</title><link>https://fil.example/</link>
<description>d</description><items><rdf:Seq><rdf:li rdf:resource="https://fil.example/1"/></rdf:Seq></items>
</channel>
<item rdf:about="https://fil.example/1"><title>Un</title><link>https://fil.example/1</link>
<dc:date>2026-11-24T08:00:00+01:00</dc:date><dc:subject>Économie</dc:subject><dc:creator>Zoé</dc:creator>
<description>&lt;p&gt;Nestlé&lt;/p&gt;</description></item>
</rdf:RDF>"""

RSS = rss([
    {"title": "guid relatif", "guid": "123", "pubDate": "Tue, 24 Nov 2026 08:30:00 +0100"},
    {"title": "guid non permalien", "link": "https://fil.example/b?utm_medium=x&amp;a=1",
     "description": "<p>Le <b>Parti</b> pirate</p>"},
    {"title": "Rien que du texte", "description": "L’été, œuvre & cœur"},
    {"title": "Titre &lt;em&gt;HTML&lt;/em&gt;", "link": "/relatif", "category": "Europe"},
    {"title": "Contenu seul", "content": "<p>Plein <script>x()</script>texte</p>",
     "author": "jeanne@fil.example (Jeanne)"},
], extra='<ttl>30</ttl><language>fr-FR</language>').replace(
    "<title>Rien que du texte</title>",
    '<title>Rien que du texte</title><source url="https://lemonde.example/rss">Le Monde</source>'
).encode()


@pytest.mark.parametrize("body", [ATOM.encode(), RDF.encode(), RSS], ids=["atom", "rdf", "rss"])
@pytest.mark.parametrize("headers", [XML, {"content-type": "application/rss+xml; charset=utf-8"},
                                     {"content-type": "text/xml"}], ids=["xml", "rss", "text-xml"])
def test_each_format_gives_the_same_entries_and_keys(body: bytes, headers: dict[str, str]):
    assert accepts(body, headers)
    fast, slow = both(body, headers)
    assert fast == slow
    assert isinstance(fast, dict) and fast["entries"]


def test_text_xml_without_charset_carries_feedparsers_warning():
    """RFC 3023 makes such a feed US-ASCII: feedparser reads it as UTF-8 and says so."""
    fast, slow = both(RSS, {"content-type": "text/xml"})
    assert isinstance(fast, dict) and fast["warning"] == slow["warning"]  # type: ignore[index]
    assert fast["warning"].startswith("CharacterEncodingOverride")


def test_entry_identity_does_not_depend_on_the_path():
    for body in (ATOM.encode(), RDF.encode(), RSS):
        fast, slow = both(body)
        assert [e["key"] for e in fast["entries"]] == [e["key"] for e in slow["entries"]]  # type: ignore[index]
    keys = [e["key"] for e in both(RSS)[0]["entries"]]  # type: ignore[index]
    assert keys[0] == "id:https://fil.example/123"  # a permalink guid is resolved, as feedparser does


TRICKY = {
    "not well-formed": b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>",
    "undefined entity": rss([{"title": "a&nbsp;b"}]).replace("a&amp;nbsp;b", "a&nbsp;b").encode(),
    "DTD with an entity": b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e "Nestl\xc3\xa9">]>'
                          b'<rss version="2.0"><channel><title>&e;</title></channel></rss>',
    "xml:base": rss([{"title": "t", "link": "a"}]).replace(
        "<item>", '<item xml:base="https://autre.example/">').encode(),
    "SVG in XHTML content": ATOM.replace('<content type="html">', '<content type="xhtml">').replace(
        "&lt;p&gt;Texte&amp;nbsp;: l’Œuvre&lt;/p&gt;",
        '<div xmlns="http://www.w3.org/1999/xhtml"><svg xmlns="http://www.w3.org/2000/svg"/></div>'
    ).encode(),
    "KOI8-R declared": rss([{"title": "Новости"}]).replace("utf-8", "koi8-r").encode("koi8-r"),
    "UTF-16": rss([{"title": "Nestlé"}]).replace("utf-8", "utf-16").encode("utf-16"),
    "invalid UTF-8": rss([{"title": "Nestlé"}]).encode("latin-1"),
    "Atom 0.3": b'<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#">'
                b"<title>t</title></feed>",
    "source element": ATOM.replace("<entry><title>Sans id</title>",
                                   "<entry><source><title>S</title></source><title>Sans id</title>"
                                   ).encode(),
    "media:keywords": rss([{"title": "t"}]).replace(
        'xmlns:content', 'xmlns:media="http://search.yahoo.com/mrss/" xmlns:content').replace(
        "<item>", "<item><media:keywords>a, b</media:keywords>").encode(),
    "comment in a title": rss([{"title": "t"}]).replace(
        "<title>t</title>", "<title>a<!-- c -->b</title>").encode(),
}


@pytest.mark.parametrize("body", TRICKY.values(), ids=TRICKY.keys())
def test_documents_it_is_not_sure_of_go_to_feedparser(body: bytes):
    assert not accepts(body)
    fast, slow = both(body)
    assert fast == slow


@pytest.mark.parametrize("headers", [{"content-type": "text/html"}, {}], ids=["html", "none"])
def test_a_media_type_feedparser_complains_of_keeps_its_complaint(headers: dict[str, str]):
    """Served as HTML or untyped: feedparser parses all the same and warns; so does the fast
    path when the text is sure (declared UTF-8, or ASCII), and it declines when not."""
    undeclared = RSS.replace(b' encoding="utf-8"', b"")
    ascii_feed = rss([{"title": "plain", "guid": "1"}]).replace(' encoding="utf-8"', "").encode()
    assert accepts(RSS, headers) and accepts(ascii_feed, headers)
    assert not accepts(undeclared, headers)
    for body in (RSS, ascii_feed, undeclared):
        fast, slow = both(body, headers)
        assert fast == slow and isinstance(fast, dict) and fast["warning"]


@pytest.mark.parametrize("headers", [XML, {"content-type": "text/xml"}, {},
                                     {"content-type": "application/rss+xml; charset=utf-8"},
                                     {"content-type": "text/xml; charset=windows-1252"}],
                         ids=["xml", "text-xml", "none", "says-utf8", "says-cp1252-declines"])
def test_latin1_feeds_are_read_alike(headers: dict[str, str]):
    """Older French sites still serve ISO-8859-1: both readers decode it the same way, and
    feedparser's complaint when the server says otherwise is kept."""
    body = RSS.decode().replace("utf-8", "iso-8859-1").replace("’", "'").replace(
        "œ", "oe").encode("latin-1") + b"<!-- \x85 -->"
    # cp1252 reads \x85 as an ellipsis where lxml, told ISO-8859-1, reads a control
    assert accepts(body, headers) is ("1252" not in str(headers))
    fast, slow = both(body, headers)
    assert fast == slow


def test_text_xml_without_any_declared_encoding_goes_to_feedparser():
    """Neither the server nor the document names the encoding: feedparser guesses (chardet,
    when installed), so the fast path cannot be sure of the text."""
    body = RDF.replace(' encoding="UTF-8"', "").encode()
    assert accepts(body, XML) and not accepts(body, {"content-type": "text/xml"})
    fast, slow = both(body, {"content-type": "text/xml"})
    assert fast == slow


def test_the_parser_pool_runs_the_fast_path():
    pool = ParserPool(workers=1)
    try:
        result = asyncio.run(pool.parse("https://fil.example/feed", RSS, XML))
    finally:
        pool.close()
    assert isinstance(result, ParsedFeed)
    _, slow = both(RSS)
    assert {**plain(result), "parser": ""} == slow


# Pieces real feeds put in their items, in any order and number: whatever the mix, the fast
# path gives what feedparser gives, or declines.
PIECES = [
    "<title>Deuxième titre</title>", "<title></title>", "<title>a &amp;lt;b&amp;gt;</title>",
    "<link>https://fil.example/autre</link>", "<link></link>", "<link>relatif?a=1&amp;amp;b=2</link>",
    '<guid isPermaLink="true">https://fil.example/g</guid>', '<guid isPermaLink="false">g</guid>',
    "<guid>g2</guid>", "<description>&lt;p&gt;Résumé&lt;/p&gt;</description>",
    "<description>texte seul</description>", "<content:encoded><![CDATA[<p>Tout</p>]]></content:encoded>",
    "<pubDate>Tue, 24 Nov 2026 08:30:00 +0100</pubDate>", "<pubDate>pas une date</pubDate>",
    "<dc:date>2026-11-24T08:30:00Z</dc:date>", "<dc:creator>Zoé</dc:creator>",
    "<author>jeanne@fil.example (Jeanne)</author>", '<category domain="d">Europe</category>',
    "<category>Europe</category>", '<category domain="d"/>', "<dc:subject>Économie</dc:subject>",
    '<enclosure url="https://fil.example/a.mp3" length="1" type="audio/mpeg"/>',
    "<comments>https://fil.example/c</comments>", '<source url="https://s.example/">S</source>',
    '<atom:link rel="alternate" href="https://fil.example/alt"/>',
    '<atom:link rel="related" href="https://fil.example/rel"/>', "<!-- commentaire -->",
    "<media:title>m</media:title>", '<media:thumbnail url="https://fil.example/t.jpg"/>',
    "<language>en</language>", "<x:inconnu>?</x:inconnu>", '<title type="html">&lt;b&gt;T&lt;/b&gt;</title>',
    "<title>\u0085 C1 \u0092</title>", "<description>Ã©tÃ©</description>",
    '<media:content url="https://fil.example/i.jpg" medium="image"><media:description type="plain">'
    "Légende</media:description><media:credit>AFP</media:credit></media:content>",
    "<media:group><media:title>G</media:title><media:content url='u'><media:title>T2</media:title>"
    "</media:content></media:group>", "<media:description>&lt;p&gt;M&lt;/p&gt;</media:description>",
    "<dc:description>D</dc:description>",
]
NAMESPACES = ('xmlns:content="http://purl.org/rss/1.0/modules/content/" '
              'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
              'xmlns:media="http://search.yahoo.com/mrss/" xmlns:x="https://x.example/ns"')


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=8), min_size=1, max_size=4))
def test_any_mix_of_item_elements_gives_feedparsers_entries_or_is_declined(items: list[list[str]]):
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            f'<rss version="2.0" {NAMESPACES}><channel><title>Fil</title>'
            "<link>https://fil.example/</link>"
            + "".join(f"<item>{''.join(pieces)}</item>" for pieces in items)
            + "</channel></rss>").encode()
    fast, slow = both(body)
    assert fast == slow


ATOM_PIECES = [
    "<title>T</title>", '<title type="html">&lt;b&gt;T&lt;/b&gt; &amp;amp;</title>', "<title></title>",
    '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">L’<b>x</b></div></title>',
    "<id>urn:x:1</id>", "<id>relatif</id>", '<link href="/a"/>', '<link rel="alternate" href="b"/>',
    '<link rel="alternate" type="application/pdf" href="c.pdf"/>', '<link rel="self" href="d"/>',
    '<link rel="enclosure" href="e.mp3"/>', "<updated>2026-11-24T08:30:00+01:00</updated>",
    "<published>2026-11-24T07:00:00Z</published>", "<updated>hier</updated>",
    "<author><name>Zoé</name></author>", "<author><name>A</name><email>a@x.fr</email></author>",
    "<author><email>b@x.fr</email><uri>/b</uri></author>", "<author><uri>/c</uri></author>",
    '<category term="t" label="L"/>', '<category label="L"/>', '<category term="t"/>',
    "<summary>a &lt; b</summary>", '<summary type="html">&lt;p&gt;S&lt;/p&gt;</summary>',
    '<content type="html">&lt;p&gt;C&lt;br/&gt;&lt;/p&gt;</content>', "<content>brut</content>",
    '<content type="xhtml"> <div xmlns="http://www.w3.org/1999/xhtml"><p>X<br/>Y</p></div> </content>',
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">a</div><div '
    'xmlns="http://www.w3.org/1999/xhtml">b</div></content>', "<rights>r</rights>",
    '<content src="https://x.example/c"/>', "<source><title>S</title></source>",
    '<media:thumbnail url="https://x.example/t.jpg"/>', "<!-- c -->",
    "<media:group><media:title>G</media:title><media:description>D</media:description></media:group>",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(ATOM_PIECES), max_size=8), min_size=1, max_size=4))
def test_any_mix_of_atom_entry_elements_gives_feedparsers_entries_or_is_declined(
        entries: list[list[str]]):
    body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:media="http://search.yahoo.com/mrss/"><title>Fil</title><id>urn:fil</id>'
            + "".join(f"<entry>{''.join(pieces)}</entry>" for pieces in entries)
            + "</feed>").encode()
    fast, slow = both(body)
    assert fast == slow


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["http://", "https://", "HTTP://", "urn:", "tag:", "mailto:", "", "/", "//",
                        "javascript:", "http:///", " http://"]),
       st.text(alphabet="ab.-_~%!$&'()*+,=:@/?;#[] \t\x00é", max_size=30),
       st.sampled_from(["https://fil.example/feed", "http://fil.example/a/b?c", ""]))
def test_links_skipped_by_the_shortcut_are_what_feedparser_would_make(start: str, rest: str,
                                                                       base: str):
    from feedparser.urls import _urljoin as feedparser_urljoin

    from veille.parse_fast_values import urljoin as _urljoin
    uri = start + rest
    assert _urljoin(base, uri) == feedparser_urljoin(base, uri)


@pytest.mark.parametrize("body", [
    '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>'
    '<link>https://fil.example/</link><description>d</description>'
    '<atom:link rel="hub" href="https://hub.example/"/><atom:link rel="self" href="f.xml"/>'
    '<item><title>a</title><guid>1</guid></item></channel></rss>',
    '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>'
    '<updated>2026-01-01T00:00:00Z</updated><link rel="hub" href="https://hub.example/"/>'
    '<link rel="self" href="/atom.xml"/><link href="https://fil.example/"/><entry><title>a</title>'
    '<id>urn:1</id><updated>2026-01-01T00:00:00Z</updated><link rel="self" href="/e1"/>'
    '</entry></feed>',
], ids=["rss", "atom"])
def test_websub_hub_and_self_links_are_read_on_the_fast_path(body: str):
    """The feed's rel="hub" and rel="self" links (websub.discover) come out of either path."""
    data = body.encode()
    assert accepts(data)
    fast, slow = both(data)
    assert isinstance(fast, dict) and fast["links"][0] == ("hub", "https://hub.example/")
    assert fast == slow
