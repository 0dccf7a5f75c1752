"""Story grouping: wire copies, canonical links, the window, restarts, off mode, the digest view,
and the labelled pairs as a regression guard."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from veille.models import StoredEntry
from veille.stories import (
    Features,
    StoryConfig,
    StoryIndex,
    _text_jaccard,
    features,
    is_series,
    numbers_differ,
    similarity,
    strip_outlet_suffix,
)

T0 = datetime(2024, 3, 18, 8, tzinfo=UTC)
PAIRS = [json.loads(line) for line in
         (Path(__file__).parent / "data" / "story_pairs.jsonl").read_text("utf-8").splitlines()]
HOLDOUT = [json.loads(line) for line in (Path(__file__).parent / "data" /
           "story_pairs_holdout.jsonl").read_text("utf-8").splitlines()]

AFP_TITLE = "Nestlé rappelle des pizzas surgelées Buitoni en raison d'une possible contamination à E. coli"
AFP = ("Nestlé France a annoncé vendredi le rappel de plusieurs lots de pizzas surgelées de la gamme "
       "Fraîch'Up de Buitoni, après la détection de bactéries E. coli dans des prélèvements. Les "
       "consommateurs sont invités à ne pas les consommer et à les rapporter en magasin.")
COPY_TITLE = "Rappel de pizzas Buitoni : Nestlé craint une contamination à E. coli"
COPY = ("Nestlé France a annoncé vendredi 18 mars le rappel de plusieurs lots de pizzas surgelées "
        "Fraîch’Up de la marque Buitoni, après la détection de la bactérie E. coli dans des "
        "prélèvements. Les consommateurs ne doivent pas les consommer et peuvent les rapporter en magasin.")
OTHER_TITLE = "Nestlé rappelle des boîtes de lait infantile Guigoz par précaution"
OTHER = ("Nestlé France procède au rappel de plusieurs lots de lait en poudre pour nourrissons Guigoz "
         "Expert, en raison d'une possible présence de céréulide. Les parents sont invités à ne pas "
         "utiliser les boîtes concernées et à les rapporter en pharmacie ou en magasin.")


def add(index: StoryIndex, entry_id: int, title: str, text: str, link: str | None = None,
        hours: float = 0) -> int:
    link = link if link is not None else f"https://site{entry_id}.example/a/{entry_id}"
    return index.add(entry_id, title, text, link, T0 + timedelta(hours=hours)).story_id


def test_wire_copy_joins_the_first_story() -> None:
    index = StoryIndex()
    assert add(index, 1, AFP_TITLE, AFP) == 1
    row = index.add(2, COPY_TITLE, COPY, "https://www.ouest-france.fr/x", T0 + timedelta(hours=2))
    assert row.story_id == 1 and not row.new_story
    assert index.story_of(2) == 1


def test_same_topic_different_event_is_a_new_story() -> None:
    index = StoryIndex()
    add(index, 1, AFP_TITLE, AFP)
    assert add(index, 2, OTHER_TITLE, OTHER, hours=1) == 2


def test_aggregator_item_joins_the_publishers_article() -> None:
    index = StoryIndex()
    add(index, 1, AFP_TITLE, AFP, "https://www.lefigaro.fr/conso/nestle-pizzas")
    story = add(index, 2, f"{AFP_TITLE} - Le Figaro", f"{AFP_TITLE}\u00a0\u00a0Le Figaro",
                "https://news.google.com/rss/articles/CBMiXYZ?oc=5", hours=1)
    assert story == 1
    assert strip_outlet_suffix("Titre du jour - Le Monde") == "Titre du jour"
    assert strip_outlet_suffix("Ryanair - profits soar") == "Ryanair - profits soar"


def test_same_canonical_link_is_always_one_story() -> None:
    index = StoryIndex()
    add(index, 1, AFP_TITLE, AFP, "http://www.lefigaro.fr/conso/nestle-pizzas/")
    story = add(index, 2, "Tout autre titre", "Un texte sans rien de commun avec le premier.",
                "https://www.lefigaro.fr/conso/nestle-pizzas?utm_source=twitter#top", hours=3)
    assert story == 1
    via_alerts = ("https://www.google.com/url?rct=j&sa=t&url=https%3A%2F%2Fwww.lefigaro.fr"
                  "%2Fconso%2Fnestle-pizzas&ct=ga")
    assert add(index, 3, "Alerte", "Rien à voir non plus.", via_alerts, hours=4) == 1


def test_the_window_bounds_who_attracts_and_what_is_kept() -> None:
    index = StoryIndex(StoryConfig(window=timedelta(hours=72)))
    add(index, 1, AFP_TITLE, AFP, "https://a.example/1")
    assert add(index, 2, COPY_TITLE, COPY, hours=71) == 1
    # 80 h after the copy: both are out of the window, evicted, and attract nothing
    assert add(index, 3, AFP_TITLE, AFP, "https://a.example/1", hours=151) == 3
    assert len(index) == 1 and index.story_of(1) is None and index._postings
    assert index.evict(T0 + timedelta(hours=400)) == 1
    assert len(index) == 0 and not index._postings and not index._links


def test_max_entries_caps_memory() -> None:
    index = StoryIndex(StoryConfig(max_entries=3))
    for i in range(10):
        add(index, i, f"Titre numéro {i} sans rapport", f"Texte {i} " * 5, hours=i / 10)
    assert len(index) == 3 and sorted(r.entry_id for r in index.rows()) == [7, 8, 9]


def test_an_entry_added_again_keeps_its_story() -> None:
    index = StoryIndex()
    first = index.add(5, AFP_TITLE, AFP, None, T0)
    assert index.add(5, "Titre changé", "Texte changé", None, T0 + timedelta(hours=1)) == first


def _stream(n: int) -> list[tuple[int, dict, datetime]]:
    """Items of the labelled set in a shuffled order, a few minutes apart, some 30 h apart."""
    rng = random.Random(3)
    items = [p[side] for p in PAIRS for side in "ab"]
    rng.shuffle(items)
    out, at = [], T0
    for i, item in enumerate(items[:n]):
        at += timedelta(hours=30) if i % 97 == 96 else timedelta(minutes=rng.randrange(1, 20))
        out.append((i + 1, item, at))
    return out


def test_restore_from_rows_gives_the_same_assignments() -> None:
    stream = _stream(400)
    live, rows = StoryIndex(), {}
    for i, (entry_id, item, at) in enumerate(stream):
        if i == 250:
            restored = StoryIndex.restore(list(rows.values())[::-1])  # any order will do
            assert restored.rows() == live.rows()
        row = live.add(entry_id, item["title"], item["summary"], item["link"], at)
        rows[entry_id] = row
    grouped = [r for r in rows.values() if not r.new_story]
    assert len(grouped) > 20  # the stream does group: the check below is not vacuous
    for entry_id, item, at in stream[250:]:
        assert restored.add(entry_id, item["title"], item["summary"], item["link"], at) \
            == rows[entry_id]
    assert restored.rows() == live.rows()


def test_unknown_signature_keeps_its_story_but_attracts_none() -> None:
    index = StoryIndex()
    row = index.add(1, AFP_TITLE, AFP, None, T0)
    restored = StoryIndex.restore([replace(row, signature=b"\x63junk")])
    assert restored.story_of(1) == 1
    assert add(restored, 2, COPY_TITLE, COPY, hours=1) == 2


def test_off_mode_groups_only_identical_links() -> None:
    index = StoryIndex(StoryConfig(enabled=False))
    add(index, 1, AFP_TITLE, AFP, "https://www.lefigaro.fr/a")
    assert add(index, 2, AFP_TITLE, AFP, "https://www.lefigaro.fr/b", hours=1) == 2
    assert add(index, 3, "Autre", "Autre", "https://www.lefigaro.fr/a?utm_medium=rss", hours=2) == 1
    assert all(r.signature == b"" for r in index.rows())


def test_a_republished_story_stays_one_story_however_often() -> None:
    """A dispatch carried 300 times: postings are per story, so its words stay findable."""
    index = StoryIndex()
    words = AFP.split()
    for i in range(300):
        edited = list(words)
        edited[i % len(words)] = "modifié"
        add(index, i + 1, AFP_TITLE, " ".join(edited), hours=i / 10)
    assert {r.story_id for r in index.rows()} == {1}


def test_fast_text_score_is_the_general_one() -> None:
    items = [p[side] for p in PAIRS[:80] for side in "ab"]
    feats = [features(i["title"], i["summary"]) for i in items]
    for a, b in zip(feats, feats[1:], strict=False):
        fast = _text_jaccard(a, b.signature())
        if fast is not None:
            assert fast == pytest.approx(similarity(a, b)[0])
        decoded = Features.from_signature(a.signature())
        assert decoded is not None and similarity(decoded, b) == similarity(a, b)
        assert decoded.numbers == a.numbers and decoded.title == a.title


def test_numbers_are_whole_words() -> None:
    assert features("L'inflation à 2,2 %", "").title != features("L'inflation à 2,5 %", "").title
    assert features("3 000 m²", "").title == features("3.000 m²", "").title


# --- digest view ---------------------------------------------------------------------------

def entry(entry_id: int, feed: str, published_h: float, seen_h: float | None = None) -> StoredEntry:
    return StoredEntry(
        id=entry_id, feed_url=f"https://{feed.lower().replace(' ', '')}.example/rss",
        feed_title=feed, key=str(entry_id), title=f"Titre {entry_id}", link=None, author=None,
        published=T0 + timedelta(hours=published_h), updated=None, summary_text="",
        content_text="", summary_html="", content_html="", categories=(), language="fr",
        first_seen=T0 + timedelta(hours=published_h if seen_h is None else seen_h),
        changed_at=None, changes=0)


def test_a_digest_shows_one_item_per_story_from_its_earliest_article() -> None:
    from veille.digest import merge_stories
    from veille.models import StoredMatch

    def match(e: StoredEntry, story: int) -> StoredMatch:
        return StoredMatch(e.id, "w", ("nestlé",), "", e.first_seen, False, e, story)

    items = merge_stories([match(entry(11, "Le Monde", 3), 10),
                           match(entry(10, "AFP", 1, seen_h=2), 10),
                           match(entry(12, "Ouest-France", 4), 10),
                           match(entry(13, "Le Monde", 5), 10), match(entry(20, "BFM", 2), 20),
                           match(entry(30, "Libération", 0.5), 30)])
    # the story with the latest article first; each shown from the article that broke it
    assert [i.story_id for i in items] == [10, 20, 30]
    assert items[0].feed == "AFP" and items[0].match_ids[0] == 10
    assert items[0].also_in == ("Le Monde", "Ouest-France") and items[0].mentions == 4
    assert [i.mentions for i in items[1:]] == [1, 1]


# --- the labelled pairs -------------------------------------------------------------------

def _pairwise(pairs: list[dict]) -> tuple[float, float, float]:
    """(precision, recall, recall without independent dispatches), each pair in a fresh index."""
    same = predicted = hits = 0
    easy = easy_hits = 0
    for p in pairs:
        index = StoryIndex()
        a = add(index, 1, p["a"]["title"], p["a"]["summary"], p["a"]["link"])
        b = add(index, 2, p["b"]["title"], p["b"]["summary"], p["b"]["link"], hours=1)
        grouped = a == b
        same += p["same"]
        predicted += grouped
        hits += grouped and p["same"]
        if p["same"] and p["case"] != "independent_dispatch":
            easy += 1
            easy_hits += grouped
    return hits / predicted, hits / same, easy_hits / easy


def test_labelled_pairs_hold_their_measured_precision_and_recall() -> None:
    """Regression guard at the measured level (bench/eval_stories.py prints the breakdown).
    Precision meets its 0.95 target (1.0). Recall does not meet 0.85: 0.775 overall and 0.91
    without the independently written dispatches; those that name the same things in their
    titles are grouped by story_names.py (6/24), the others share neither words nor names
    with each other more than two different events on one topic do (word overlap alone: recall
    0.67, dispatches 0/24); an update that only revises the figure of its title is given up
    to keep series apart (see stories.is_series)."""
    assert len(PAIRS) >= 200 and sum(p["same"] for p in PAIRS) / len(PAIRS) >= 0.4
    precision, recall, recall_easy = _pairwise(PAIRS)
    assert precision >= 0.95
    assert recall >= 0.77
    assert recall_easy >= 0.90


def test_held_out_pairs_hold_their_measured_level() -> None:
    """The held-out set was written before the similarity was tuned and is not tuned on;
    this only guards its measured level: precision 0.926, recall 0.54 (word overlap alone:
    0.944 and 0.37; the names and one-site rules of story_names.py group 8 more of its
    same-story pairs and one more pair that is not, of 27 groupings in all)."""
    assert len(HOLDOUT) >= 80 and {p["lang"] for p in HOLDOUT} == {"fr", "en"}
    precision, recall, _ = _pairwise(HOLDOUT)
    assert precision >= 0.92
    assert recall >= 0.54


# --- the signals beyond word overlap ------------------------------------------------------

WORDLE = "Stuck on today's Wordle? Here are hints for the puzzle, a clue for each letter and " \
         "then the answer, if you just want to keep your streak going."


@pytest.mark.parametrize(("title_a", "title_b"), [
    ("Wordle today: answer and hints for puzzle #1,024",
     "Wordle today: answer and hints for puzzle #1,025"),
    ("Premier League predictions: Gameweek 12 picks", "Premier League predictions: Gameweek 13 picks"),
    ("Résultat du Loto : le tirage du samedi 12 octobre 2024",
     "Résultat du Loto : le tirage du samedi 19 octobre 2024"),
])
def test_a_series_whose_title_numbers_differ_is_not_one_story(title_a: str, title_b: str) -> None:
    index = StoryIndex()
    add(index, 1, title_a, WORDLE)
    assert add(index, 2, title_b, WORDLE, hours=24) == 2
    # the same item carried twice, or a title that adds a number to a numberless one, still is
    assert add(index, 3, title_a, WORDLE, hours=25) == 1
    assert not numbers_differ(features("Wordle: answer", "").numbers,
                              features(title_b, "").numbers)


def test_stemming_lets_an_update_join_on_its_place_and_reworded_title() -> None:
    """An update rewrites the title around the same names: "Disparition ... à Rennes" then
    "Adolescente disparue à Rennes". Stems (disparition/disparue, recherchent/recherchée,
    appel/appelé) and the shared names carry it over the threshold (0.57); unstemmed, its
    score is 0.48."""
    first = ("Disparition inquiétante d'une adolescente à Rennes",
             "Les policiers recherchent activement Léa, une adolescente disparue vendredi soir "
             "près de la station Villejean-Université. Les enquêteurs lancent un appel aux témoins.")
    update = ("Adolescente disparue à Rennes : Léa retrouvée",
              "Recherchée depuis vendredi soir, Léa, adolescente signalée disparue près de la station "
              "Villejean-Université, a été retrouvée. Les policiers remercient les témoins ayant "
              "appelé.")
    index = StoryIndex()
    add(index, 1, *first)
    assert add(index, 2, *update, hours=30) == 1
    assert similarity(features(*first), features(*update))[0] >= StoryConfig().threshold
    assert features("Disparition à Rennes", "").title == features("Disparue à Rennes", "").title
    assert features("Storm hits Texas", "").title == features("Storms hit Texas", "").title
    assert features("Intel cuts jobs", "").title == features("Intel cut job", "").title


def test_an_update_that_rewords_its_title_around_a_new_figure_is_no_series() -> None:
    """Numbers differ, but the title is reworded too: not a template, so scored as usual."""
    first = ("Toulouse : un violent orage provoque 250 interventions des pompiers",
             "Un violent orage s'est abattu jeudi soir sur l'agglomération toulousaine. Caves "
             "inondées, arbres arrachés, quartiers privés d'électricité : les pompiers de la "
             "Haute-Garonne ont multiplié les interventions, selon Enedis et la préfecture.")
    update = ("Orage à Toulouse : plus de 600 interventions, des milliers de foyers sans courant",
              "Après le violent orage de jeudi soir sur l'agglomération toulousaine, les pompiers "
              "de la Haute-Garonne ont multiplié les interventions : caves inondées, arbres "
              "arrachés, quartiers privés d'électricité, selon Enedis et la préfecture.")
    a, b = features(*first), features(*update)
    assert numbers_differ(a.numbers, b.numbers) and not is_series(a, b)
    index = StoryIndex()
    add(index, 1, *first)
    assert add(index, 2, *update, hours=3) == 1
    # the same two titles as a template ("... 250 interventions" / "... 600 interventions")
    # are a series: the same leads do not make them one story
    series = features("Orages : 250 interventions des pompiers", first[1])
    assert is_series(series, features("Orages : 600 interventions des pompiers", first[1]))


def test_a_wire_revision_mark_is_not_a_title_number() -> None:
    assert strip_outlet_suffix("UPDATE 3-Boeing CEO Calhoun to exit") == "Boeing CEO Calhoun to exit"
    assert features("UPDATE 3-Boeing CEO to exit", "").numbers == ()
    assert features("Boeing 737 MAX grounded", "").numbers != ()


def test_a_signature_of_the_unstemmed_version_attracts_none() -> None:
    """Version 1 signatures hashed whole words: their hashes cannot meet stemmed ones."""
    row = StoryIndex().add(1, AFP_TITLE, AFP, None, T0)
    old = bytes((1, 0, 1)) + row.signature[4:12]
    assert Features.from_signature(old) is None
    restored = StoryIndex.restore([replace(row, signature=old)])
    assert restored.story_of(1) == 1 and add(restored, 2, COPY_TITLE, COPY, hours=1) == 2


def test_a_storys_latest_entries_are_compared_without_decoding_them(monkeypatch) -> None:
    """The next entries of a story compare with its latest one: its features are kept as
    they were computed, not decoded again from its signature at each comparison (about half
    of a first poll's comparisons). A restored index decodes; its stories are the same
    (test_restore_from_rows_gives_the_same_assignments)."""
    decoded = []
    real = Features.from_signature.__func__  # type: ignore[attr-defined]

    def counting(cls, data):
        decoded.append(data)
        return real(cls, data)

    monkeypatch.setattr(Features, "from_signature", classmethod(counting))
    index = StoryIndex()
    # titles alone (aggregator items): compared by the general path, not the fast text score
    stories = {add(index, i + 1, f"{AFP_TITLE} - Outlet {i}", "", hours=i / 10)
               for i in range(12)}
    assert stories == {1}
    assert decoded == []
