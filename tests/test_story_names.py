"""The second signal of story grouping (story_names.py): titles' names that agree make two
differently written dispatches one story, one site's update joins its article, and a
different event on the same topic, which names other things, stays apart."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from veille.config import settings_from_toml
from veille.errors import ConfigError
from veille.stories import Features, StoryConfig, StoryIndex, features, similarity
from veille.story_names import split, title_names
from veille.story_signature import _STOPWORDS, _name_words

T0 = datetime(2024, 3, 18, 8, tzinfo=UTC)
HOLDOUT2 = [json.loads(line) for line in (Path(__file__).parent / "data" /
            "story_pairs_holdout2.jsonl").read_text("utf-8").splitlines()]

# Two newsrooms on one event: 0.23 of their words in common, their titles name Airbus,
# Thales and Leonardo, each found in the other.
AGENCY = ("Airbus et Thales s'allient dans les satellites",
          "Le groupe Airbus et Thales ont annoncé jeudi la création d'une coentreprise regroupant "
          "leurs activités de satellites, qui emploiera 25 000 personnes, avec l'italien Leonardo "
          "comme troisième actionnaire, pour résister à SpaceX.")
PAPER = ("Satellites : Thales, Airbus et Leonardo fusionnent leurs activités spatiales",
         "Les trois groupes européens ont signé jeudi un protocole d'accord pour rapprocher leurs "
         "divisions spatiales au sein d'une nouvelle société, afin de mieux résister à la "
         "concurrence de SpaceX. Le groupe Airbus détiendra 35 % du capital, Thales et Leonardo "
         "32,5 % chacun.")
# One topic, two events: the same template (0.29 of words), names the other lacks.
FLINS = ("Grève à l'usine Renault de Flins : la production à l'arrêt",
         "La production est à l'arrêt depuis mardi à l'usine Renault de Flins (Yvelines), où les "
         "salariés sont en grève à l'appel de la CGT pour réclamer une hausse des salaires de 300 "
         "euros par mois.")
SOCHAUX = ("Grève à l'usine Stellantis de Sochaux : la production à l'arrêt",
           "La production est interrompue depuis jeudi à l'usine Stellantis de Sochaux (Doubs), où "
           "une partie des salariés a cessé le travail à l'appel de FO pour réclamer une prime de "
           "200 euros.")
# An article and its update on one site: 0.548 of words, just under the word threshold.
FIRE = ("Incendie dans un entrepôt de Gennevilliers : un épais panache de fumée visible de loin",
        "Un violent incendie s'est déclaré mercredi matin dans un entrepôt de produits ménagers de "
        "Gennevilliers (Hauts-de-Seine). Une centaine de pompiers sont mobilisés et la préfecture "
        "demande aux riverains de fermer leurs fenêtres.")
FIRE_UPDATE = ("Gennevilliers : l'incendie de l'entrepôt maîtrisé, les riverains rassurés",
               "Le violent incendie qui s'est déclaré mercredi matin dans un entrepôt de produits "
               "ménagers de Gennevilliers (Hauts-de-Seine) est maîtrisé, annoncent la centaine de "
               "pompiers mobilisés. La préfecture lève ses consignes : les riverains peuvent "
               "rouvrir leurs fenêtres.")


def pair(first: tuple[str, str], second: tuple[str, str], config: StoryConfig | None = None,
         links: tuple[str, str] = ("https://a.example/1", "https://b.example/2")) -> bool:
    """Whether `second`, one hour after `first`, joins its story."""
    index = StoryIndex(config)
    index.add(1, *first, links[0], T0)
    return index.add(2, *second, links[1], T0 + timedelta(hours=1)).story_id == 1


def names(title: str, lead: str = "") -> list[str]:
    return [" ".join(n) for n in title_names(title, lead, _name_words, _STOPWORDS)]


def test_two_dispatches_naming_the_same_things_are_one_story() -> None:
    score, _ = similarity(features(*AGENCY), features(*PAPER))
    assert 0.18 <= score < StoryConfig().threshold  # word overlap alone keeps them apart
    assert pair(AGENCY, PAPER)
    assert not pair(AGENCY, PAPER, StoryConfig(names_threshold=1.0, site_threshold=1.0))


def test_same_topic_different_event_names_what_the_other_lacks() -> None:
    score, _ = similarity(features(*FLINS), features(*SOCHAUX))
    assert score >= StoryConfig().names_threshold
    assert not pair(FLINS, SOCHAUX)
    assert not pair(FLINS, SOCHAUX, links=("https://www.leparisien.example/a",
                                           "https://leparisien.example/b"))


def test_one_sites_update_joins_its_article_another_sites_text_does_not() -> None:
    score, _ = similarity(features(*FIRE), features(*FIRE_UPDATE))
    assert 0.5 <= score < StoryConfig().threshold
    same_site = ("https://www.leparisien.example/faits-divers/incendie-a",
                 "https://leparisien.example/faits-divers/incendie-maitrise-b")
    assert pair(FIRE, FIRE_UPDATE, links=same_site)
    assert not pair(FIRE, FIRE_UPDATE)  # two sites: one name is not enough
    assert not pair(FIRE, FIRE_UPDATE, StoryConfig(site_threshold=1.0), links=same_site)


def test_another_month_or_day_in_the_title_is_another_release() -> None:
    may = ("L'inflation ralentit à 2,2 % sur un an en mai, selon l'Insee",
           "Les prix à la consommation ont augmenté de 2,2 % sur un an en mai, après 2,4 % en avril, "
           "selon l'estimation provisoire publiée par l'Insee, portés par les services.")
    june = ("L'inflation ralentit à 2,1 % sur un an en juin, selon l'Insee",
            "Les prix à la consommation ont augmenté de 2,1 % sur un an en juin, après 2,2 % en mai, "
            "selon l'estimation provisoire publiée par l'Insee, portés par les services.")
    site = ("https://www.boursorama.example/a", "https://www.boursorama.example/b")
    assert not pair(may, june, links=site)


def test_names_are_capitalized_runs_not_capitalized_by_position() -> None:
    assert names("Grève à l'usine Renault de Flins : la production à l'arrêt",
                 "les salariés sont en grève") == ["renault", "flins"]
    assert names("Vote à l'Assemblée : d'après Air France-KLM, la taxe coûtera cher") == \
        ["assemblee", "air france klm"]
    # a first word is a name only when the entry also capitalizes it mid-sentence
    assert names("Pic de pollution à l'ozone en Île-de-France") == ["ile france"]
    assert names("Sanofi cède Opella", "Le groupe Sanofi a annoncé la vente.") == \
        ["sanofi", "opella"]
    # Title Case says nothing; weekdays, months and numbers are no names
    assert names("Biden Formally Blocks Steel Deal", "President Biden said on Friday") == ["biden"]
    assert names("Storm hits Texas on Monday in March 2024") == ["texas"]
    assert names("tout en minuscules") == []


def test_names_survive_the_signature_and_a_restart() -> None:
    first = features(*PAPER)
    assert split(first.names) and Features.from_signature(first.signature()) == first
    index = StoryIndex()
    row = index.add(1, *AGENCY, "https://a.example/1", T0)
    restored = StoryIndex.restore([row])
    assert restored.add(2, *PAPER, "https://b.example/2", T0 + timedelta(hours=1)).story_id == 1


def test_a_signature_of_version_2_still_attracts_by_words() -> None:
    """Rows stored before names (version 2: 4-byte head, no name count) keep attracting
    wire copies by word overlap after an upgrade, not by names."""
    feats = features(*AGENCY)
    v2 = replace(feats, names=())
    hashes = v2.signature()[8:]
    old = bytes((2, 0, len(v2.title), len(v2.numbers))) + hashes
    decoded = Features.from_signature(old)
    assert decoded == v2
    row = StoryIndex().add(1, *AGENCY, "https://a.example/1", T0)
    restored = StoryIndex.restore([replace(row, signature=old)])
    assert restored.add(2, *PAPER, "https://b.example/2", T0 + timedelta(hours=1)).story_id == 2
    assert restored.add(3, *AGENCY, "https://c.example/3", T0 + timedelta(hours=2)).story_id == 1


def test_second_held_out_set_holds_its_measured_level() -> None:
    """tests/data/story_pairs_holdout2.jsonl was written before any result on it was seen and
    is not tuned on (bench/eval_stories.py --pairs ... prints the breakdown). Measured:
    precision 0.917, recall 0.537; before names, 0.867 and 0.317."""
    assert len(HOLDOUT2) >= 80 and {p["lang"] for p in HOLDOUT2} == {"fr", "en"}
    hits = predicted = same = 0
    for p in HOLDOUT2:
        grouped = pair((p["a"]["title"], p["a"]["summary"]), (p["b"]["title"], p["b"]["summary"]),
                       links=(p["a"]["link"], p["b"]["link"]))
        predicted += grouped
        same += p["same"]
        hits += grouped and p["same"]
    assert hits / predicted >= 0.91 and hits / same >= 0.53


def test_the_thresholds_are_read_from_the_stories_table() -> None:
    settings = settings_from_toml({"stories": {"names_threshold": 0.25, "site_threshold": 1}},
                                  None)
    assert settings.stories.names_threshold == 0.25 and settings.stories.site_threshold == 1.0
    with pytest.raises(ConfigError, match="names_threshold"):
        settings_from_toml({"stories": {"names_threshold": 1.5}}, None)
