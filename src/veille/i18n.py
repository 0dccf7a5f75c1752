"""What people read (digests, alerts, reports) in their language: French, the default, or
English (`language = "en"` in veille.toml). The CLI itself always speaks English.

Texts are written in French in the code and templates, and looked up here for English, so
that the French output stays exactly what it was; a phrase missing from the table shows in
French rather than failing. Dates and numbers go through Babel (CLDR), imported only when
a report or an English text needs it.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"

_EN: dict[str, str] = {
    # digests
    "sujet": "story", "sujets": "stories", "mention": "mention", "mentions": "mentions",
    "aussi dans": "also in", "termes": "terms", "(sans titre)": "(untitled)",
    "message de test": "test message", "autres": "more", "et": "and",
    "lire": "read", "Message de test : le canal fonctionne.":
    "Test message: the channel works.",
    # spike alerts
    "ALERTE": "ALERT", "article": "article", "articles": "articles", "en": "in",
    "l'habituel": "the usual", "d'habitude à cette heure-ci": "usually at this time",
    "pour": "against", "Début estimé": "Estimated start",
    # reports
    "Rapport veille": "veille report", "Période": "Period", "du": "from", "au": "to",
    "Part de voix": "Share of voice", "Mentions par jour": "Mentions per day",
    "Principales sources": "Top outlets", "Principaux sujets": "Top stories",
    "Santé des flux": "Feed health", "Source": "Outlet", "Sujet": "Story",
    "Sources": "Outlets", "Sujets": "Stories", "Mentions": "Mentions", "source": "outlet",
    "Flux": "Feed", "État": "State", "Depuis": "Since",
    "Détail": "Detail", "Pics": "Spikes", "pic": "spike", "pics": "spikes",
    "en cours": "ongoing", "pic de": "peak of", "Aucune mention sur la période.":
    "No mention over the period.", "flux en bonne santé": "feeds in good health",
    "flux à surveiller": "feeds to look at", "Aucun pic détecté.": "No spike detected.",
    "Généré le": "Generated on", "Veille": "Watchlist", "jour": "day", "jours": "days",
    "et {n} autres": "and {n} more", "et {n} autre": "and {n} more", "Graphiques en pièces jointes.":
    "Charts are attached.", "Aucune veille.": "No watchlist.",
    # feed health states
    "ok": "ok", "broken": "broken", "stale": "silent", "gone": "gone", "moved": "moved",
    "not_a_feed": "not a feed",
}
_FR_STATES = {"ok": "en bonne santé", "broken": "en panne", "stale": "muet",
              "gone": "supprimé", "moved": "déplacé", "not_a_feed": "pas un flux"}


def check(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (expected fr or en)")
    return language


def tr(language: str, text: str) -> str:
    """`text` (French) in `language`."""
    return _EN.get(text, text) if language == "en" else text


def state_label(language: str, state: str) -> str:
    """A feed health state as a reader calls it."""
    return _EN.get(state, state) if language == "en" else _FR_STATES.get(state, state)


def colon(language: str) -> str:
    """French puts a space before a colon, English does not."""
    return " :" if language == "fr" else ":"


def plural(language: str, n: int, one: str, many: str) -> str:
    """French: 0 and 1 take the singular ("0 sujet"); English: only 1 does."""
    single = n in (0, 1) if language == "fr" else n == 1
    return tr(language, one if single else many)


def counts(language: str, stories: int, mentions: int) -> str:
    """"3 sujets, 7 mentions", "0 sujet, 1 mention" / "3 stories, 7 mentions"."""
    return (f"{stories} {plural(language, stories, 'sujet', 'sujets')}, "
            f"{mentions} {plural(language, mentions, 'mention', 'mentions')}")


def format_datetime(value: datetime, tz: ZoneInfo | str, language: str) -> str:
    """"26/11/2026 08:00" in French (as digests always wrote it), "Nov 26, 2026, 08:00"."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = value.astimezone(tz)
    if language == "fr":
        return local.strftime("%d/%m/%Y %H:%M")
    from babel.dates import format_datetime as babel_datetime
    return babel_datetime(local.replace(tzinfo=None), "MMM d, yyyy, HH:mm", locale=language)


def format_date(value: date, language: str, form: str = "medium") -> str:
    """"26 nov. 2026" / "Nov 26, 2026"; form "short" for chart axes: "26/11" / "11/26"."""
    from babel.dates import format_date as babel_date
    if form == "short":
        return babel_date(value, "dd/MM" if language == "fr" else "MM/dd", locale=language)
    return babel_date(value, form, locale=language)


def format_number(value: float, language: str, digits: int = 0) -> str:
    """"12 345" / "12,345"; a share as "42,5 %" / "42.5%" with format_percent."""
    from babel.numbers import format_decimal
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, pattern, locale=language)


def format_percent(share: float, language: str) -> str:
    """A share of 1 as "42,5 %" (French typography: a narrow no-break space) / "42.5%"."""
    return format_number(share * 100, language, 1) + ("\u202f%" if language == "fr" else "%")
