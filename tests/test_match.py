"""The query language, French cases first, and the properties matching must keep."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.errors import WatchlistError
from veille.match import Matcher, QuerySyntaxError, compile_watchlist, highlight_spans, parse_query
from veille.models import StoredEntry
from veille.normalize import fold, token_text
from veille.watchlists import parse_watchlists

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def make_entry(title: str = "", summary: str = "", content: str = "", author: str = "",
               categories: tuple[str, ...] = (), feed_title: str = "Le Fil",
               link: str = "https://www.lemonde.fr/a/1") -> StoredEntry:
    return StoredEntry(id=1, feed_url="https://flux.example.org/rss", feed_title=feed_title,
                       key="k", title=title, link=link, author=author or None, published=NOW,
                       updated=None, summary_text=summary, content_text=content, summary_html="",
                       content_html="", categories=categories, language="fr", first_seen=NOW,
                       changed_at=None, changes=0)


def matches(query: str, entry: StoredEntry) -> bool:
    return bool(Matcher([compile_watchlist("w", query)]).match(entry))


CASES = [
    # accents, case, ligatures, apostrophes
    ("nestlé", "NESTLE rachète une marque", True),
    ("nestle", "Nestlé rachète une marque", True),
    ("NESTLÉ", "nestlé", True),
    ("coeur", "Le cœur du sujet", True),
    ("cœur", "COEUR", True),
    ("ae", "Æ", True),
    ('"l\'oréal"', "L’Oréal publie ses résultats", True),
    ("l’oréal", "l'Oreal", True),
    ("oréal", "L’Oréal", True),  # the apostrophe separates words
    # hyphens separate words; a word never matches inside another
    ("nestlé", "Nestlé-Waters ferme une usine", True),
    ('"nestlé waters"', "Nestlé-Waters ferme une usine", True),
    ("orange", "Visite de l’Orangerie", False),
    ("orange", "Orange augmente ses prix", True),
    ("pirate", "piratage massif", False),
    # phrases are consecutive words
    ('"parti pirate"', "Le Parti pirate présente ses listes", True),
    ('"parti pirate"', "Le parti a vu un pirate", False),
    ('"parti pirate"', "le Parti.   Pirate", True),  # punctuation and spaces fold
    # prefixes start at the beginning of a word
    ("pirat*", "Le piratage des données", True),
    ("pirat*", "Les Pirates", True),
    ("pirat*", "un aspirateur", False),
    ("l'ora*", "L’Oratoire du Louvre", True),
    # AND, OR, grouping, exclusion
    ("nestlé eau", "Nestlé et l’eau minérale", True),
    ("nestlé eau", "Nestlé et le café", False),
    ("nestlé AND eau", "Nestlé : l’eau", True),
    ("perrier OR vittel", "Vittel en difficulté", True),
    ("(perrier OR vittel) usine", "L’usine Perrier", True),
    ("(perrier OR vittel) usine", "Perrier", False),
    ('"parti pirate" -"pirate bay"', "Le Parti pirate et The Pirate Bay", False),
    ('"parti pirate" -"pirate bay"', "Le Parti pirate se présente", True),
    ("nestlé NOT café", "Nestlé vend son café", False),
    ("nestlé -café", "Nestlé vend son eau", True),
    ("piratenpartei OR \"parti pirate\" -bay", "Die Piratenpartei", True),
    ("or", "Le cours de l'or", True),  # lowercase or is a word
    # OR binds tighter than juxtaposition, as in Google
    ("nestlé eau OR lait", "Nestlé et le lait", True),
    ("nestlé eau OR lait", "L’eau et le lait", False),
    ('"parti pirate" OR piratenpartei -"pirate bay"', "Piratenpartei und Pirate Bay", False),
    # regex escape hatch, matched on the plain text
    (r"/\bCAC ?40\b/", "Le CAC40 recule", True),
    (r"/\bCAC ?40\b/", "Le CAC 400", False),
    # digits and other scripts
    ("g7", "Sommet du G7 à Biarritz", True),
    ("москва", "Новости: МОСКВА", True),
]


@pytest.mark.parametrize("query, text, expected", CASES)
def test_language_on_text(query, text, expected):
    assert matches(query, make_entry(summary=text)) is expected


def test_html_text_is_searched_as_plain_text():
    entry = make_entry(content="Le rapport de la Cnil & de l’ANSSI")  # content_text is plain
    assert matches("cnil anssi", entry)


@pytest.mark.parametrize("query, expected", [
    ("title:nestlé", True), ("title:usine", False), ("author:dupont", True),
    ("author:nestlé", False), ("source:monde", True), ("source:lemonde.fr", True),
    ('source:"le monde"', True), ('source:"le fil"', False), ("source:figaro", False),
    ("category:économie", True),
    ('category:"eau minérale"', True), ('category:"économie eau"', False),
    ("usine", True),  # unscoped: title, summary and content
    ("title:nestlé -author:martin", True), ("title:nestlé -author:dupont", False),
])
def test_scopes(query, expected):
    entry = make_entry(title="Nestlé ferme", summary="Une usine", author="Jeanne Dupont",
                       categories=("Économie", "Eau minérale"), feed_title="Le Monde")
    assert matches(query, entry) is expected


def test_fields_do_not_run_into_each_other():
    entry = make_entry(title="Le parti", summary="Pirate de l’air")
    assert not matches('"parti pirate"', entry)


@pytest.mark.parametrize("query, column, message", [
    ('"parti pirate" (nestlé', 16, "unbalanced parenthesis"),
    ("nestlé)", 7, "unbalanced parenthesis"),
    ('"parti pirate', 1, "unterminated quote"),
    ("OR nestlé", 1, "OR needs a term"),
    ("nestlé OR", 8, "OR needs a term"),
    ("-nestlé", 1, "nothing to look for"),
    ("", 1, "empty query"),
    ("/(/", 2, "bad regex"),
    ("&", 1, "no letter or digit"),
    ("()", 1, "empty parentheses"),
])
def test_syntax_errors_have_columns(query, column, message):
    with pytest.raises(QuerySyntaxError) as e:
        parse_query(query)
    assert e.value.column == column and message in e.value.message


def test_watchlist_file_errors_name_file_watchlist_and_column(tmp_path):
    path = tmp_path / "watchlists.toml"
    data = {"watchlist": [{"name": "parti-pirate", "query": '"parti pirate" (x'}]}
    with pytest.raises(WatchlistError) as e:
        parse_watchlists(path, data)
    assert str(e.value) == ("watchlists.toml: parti-pirate: query column 16: "
                            "unbalanced parenthesis")
    with pytest.raises(WatchlistError, match="name: used by another watchlist"):
        parse_watchlists(path, {"watchlist": [{"name": "a", "query": "x"}] * 2})
    with pytest.raises(WatchlistError, match='unknown key \'querry\' \\(did you mean "query"'):
        parse_watchlists(path, {"watchlist": [{"name": "a", "querry": "x"}]})


def test_matched_terms_and_snippet():
    text = ("Long préambule sans intérêt. " * 10 + "Le Parti pirate a déposé ses listes "
            "pour les européennes, a annoncé sa porte-parole. " + "Suite du texte. " * 10)
    [m] = Matcher([compile_watchlist("pp", '"parti pirate" OR piratenpartei OR nestlé')]).match(
        make_entry(title="Européennes", summary=text))
    assert m.terms == ('"parti pirate"',)
    assert "Parti pirate a déposé" in m.snippet and m.snippet.startswith("…")
    assert len(m.snippet) <= 210


def test_highlight_spans_map_back_to_the_original_text():
    text = "L’Oréal et Nestlé-Waters : le PIRATAGE"
    spans = highlight_spans(text, ['"l\'oréal"', "nestlé", "pirat*"])
    assert [text[s:e] for s, e in spans] == ["L’Oréal", "Nestlé", "PIRATAGE"]


def test_only_candidate_watchlists_are_evaluated():
    matcher = Matcher([compile_watchlist(f"w{i}", f"mot{i} -exclu") for i in range(100)])
    found = matcher.match(make_entry(summary="le mot42 et le mot7"))
    assert sorted(m.watchlist for m in found) == ["w42", "w7"]


words_strategy = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                         max_size=30)


@given(words_strategy)
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


@given(st.lists(st.text(alphabet="abcdeéèœ’'-ÉÇç", min_size=1, max_size=6), min_size=1,
                max_size=4), st.text(alphabet="abcé œ’.-", max_size=40))
def test_phrase_match_implies_each_word_matches(phrase_words, noise):
    phrase = " ".join(phrase_words)
    if not token_text(phrase).strip():
        return
    entry = make_entry(summary=f"{noise} {phrase} {noise}")
    query = '"' + phrase.replace('"', "") + '"'
    if matches(query, entry):
        for w in token_text(phrase).split():
            assert matches(w, entry)


@given(st.text(max_size=60))
def test_fast_token_text_equals_the_exact_path(text):
    from veille.normalize import _slow_token_text, word_spans

    assert token_text(text) == _slow_token_text(text)
    doc, spans = word_spans(text)
    assert doc.split() == token_text(text).split() and len(spans) == len(doc.split())
    for token, (start, end) in zip(doc.split(), spans, strict=True):
        assert token in token_text(text[start:end]).split()


@given(st.text(alphabet="abcéèàçœ’'- ÉÀ«»…—", max_size=60))
def test_fast_token_text_on_french_alphabet(text):
    from veille.normalize import _slow_token_text

    assert token_text(text) == _slow_token_text(text)


@given(st.text(alphabet="abé œ’-.x\u0301½", max_size=40), st.sampled_from(["a", "b", "e", "ab",
                                                                           "oe", "x"]))
def test_first_position_agrees_with_highlights(text, word):
    from veille.normalize import first_position

    spans = highlight_spans(text, [word])
    assert first_position(text, [f" {word} "]) == (spans[0][0] if spans else None)


@given(st.text(alphabet='ab "()*/-:ORNTtitle\\\\é', max_size=30))
def test_any_query_compiles_or_fails_with_a_column(query):
    try:
        parse_query(query)
    except QuerySyntaxError as e:
        assert 1 <= e.column <= len(query) + 1 and e.message
    else:
        assert Matcher([compile_watchlist("w", query)]).match(make_entry(summary=query)) \
            is not None


def test_watchlist_entries_must_be_tables(tmp_path):
    with pytest.raises(WatchlistError, match="watchlist #1: expected a \\[\\[watchlist\\]\\]"):
        parse_watchlists(tmp_path / "watchlists.toml", {"watchlist": ["nestlé"]})
