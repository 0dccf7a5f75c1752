"""Render a sample HTML digest and screenshot it with headless Chromium at phone and desktop
widths, to look at it as a reader would (not part of `make test`: Chromium is slow to start).

    python bench/render_digest.py /tmp/digest   # writes digest.html, digest-375.png, -1200.png
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from veille.digest import build_digest, render_html
from veille.models import StoredEntry, StoredMatch

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
STORIES = [
    ("Le Parti pirate dépose ses listes pour les européennes", "Ouest-France",
     "https://www.ouest-france.fr/politique/elections/europeennes/le-parti-pirate-depose-ses-"
     "listes-pour-les-europeennes-7f3c2a1e-2b4d-11ef-9c3a-6a4f2b1c0d9e?utm_source=rss",
     "À Rennes, le Parti pirate a présenté jeudi sa liste pour les élections européennes, "
     "menée par une ingénieure de 34 ans qui promet « un Internet libre et des données "
     "personnelles protégées ».", ('"parti pirate"',)),
    ("Piratenpartei: Die Piraten wollen zurück ins Europaparlament", "Deutsche Welle",
     "https://www.dw.com/de/piraten/a-68512345",
     "Die Piratenpartei hofft auf ein Comeback; ihr Programm setzt auf Transparenz und "
     "Bürgerrechte im Netz.", ("piratenpartei",)),
    ("Un mot très long pour éprouver la mise en page : anticonstitutionnellementissimement",
     "Le Monde", "https://www.lemonde.fr/a/" + "x" * 120,
     "Le parti pirate s’invite dans le débat ; " + "supercalifragilisticexpialidocious" * 3,
     ('"parti pirate"',)),
]


def sample() -> str:
    matches = []
    for i, (title, feed, link, summary, terms) in enumerate(STORIES):
        when = NOW - timedelta(hours=i + 1)
        entry = StoredEntry(i, f"https://feed/{i}", feed, str(i), title, link, None, when, None,
                            summary, "", "", "", (), "fr", when, None, 0)
        matches.append(StoredMatch(i, "parti-pirate", terms, summary, when, False, entry))
    return render_html(build_digest([("parti-pirate", "Le Parti pirate en Europe", matches)],
                                    NOW, "Europe/Paris"))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "digest-render")
    out.mkdir(parents=True, exist_ok=True)
    html = out / "digest.html"
    html.write_text(sample(), encoding="utf-8")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium not found (apt-get install chromium); HTML written to " + str(html))
    for width in (375, 1200):
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={out / 'profile'}",
                        f"--screenshot={out / f'digest-{width}.png'}",
                        f"--window-size={width},900", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=60)
        print(out / f"digest-{width}.png")


if __name__ == "__main__":
    main()
