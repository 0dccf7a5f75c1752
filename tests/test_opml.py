"""feeds.opml: reading folders and options, editing in place atomically, export, clear errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from veille.errors import OpmlError
from veille.opml import OpmlDocument, export_opml

from .conftest import Workspace

USER_OPML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- mes flux -->
<opml version="2.0" xmlns:fr="https://freshrss.org/opml">
  <head><title>Mes flux</title></head>
  <body>
    <outline text="presse">
      <outline text="Le Monde" xmlUrl="https://www.lemonde.fr/rss/une.xml" fr:priority="1" custom="x"/>
      <outline text="régions">
        <outline title="Ouest-France" text="OF" xmlUrl="https://www.ouest-france.fr/rss/une" interval="15m"/>
      </outline>
    </outline>
    <outline text="Hacker News" xmlUrl="https://news.ycombinator.com/rss"/>
  </body>
</opml>
"""


def write(path: Path, text: str = USER_OPML) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_nested_folders_titles_and_options(tmp_path):
    sources = OpmlDocument.load(write(tmp_path / "feeds.opml")).sources()
    assert [(s.folder, s.title, s.url) for s in sources] == [
        ("presse", "Le Monde", "https://www.lemonde.fr/rss/une.xml"),
        ("presse/régions", "Ouest-France", "https://www.ouest-france.fr/rss/une"),
        ("", "Hacker News", "https://news.ycombinator.com/rss"),
    ]
    assert sources[1].interval == 900


@pytest.mark.parametrize("text, where", [
    ("<opml><body><outline text='a'></body></opml>", "line 1, column 33"),
    ("<?xml version='1.0'?>\n<opml>\n<body>\n<outline xmlUrl='x' & />", "line 4, column 21"),
    ("", "line 1, column 1"),
])
def test_broken_opml_names_file_and_position(tmp_path, text, where):
    with pytest.raises(OpmlError) as e:
        OpmlDocument.load(write(tmp_path / "feeds.opml", text))
    assert str(e.value).startswith(f"feeds.opml: {where}: not valid XML")


def test_bad_interval_names_the_feed(tmp_path):
    text = USER_OPML.replace('interval="15m"', 'interval="soon"')
    with pytest.raises(OpmlError, match="feeds.opml: feed https://www.ouest-france.fr/rss/une: "
                                        "interval"):
        OpmlDocument.load(write(tmp_path / "feeds.opml", text))


def test_cli_add_remove_keep_folders_order_unknown_attributes(workspace: Workspace):
    path = write(workspace.root / "feeds.opml")
    workspace.run("feeds", "add", "https://next.ink/feed/", "--folder", "tech/fr",
                  "--title", "Next", "--no-check")  # no internet in tests: test_discover.py
    workspace.run("feeds", "add", "https://www.liberation.fr/rss", "--folder", "presse",
                  "--no-check")
    assert "already in feeds.opml" in workspace.run("feeds", "add",
                                                    "https://next.ink/feed/").stdout
    text = path.read_text(encoding="utf-8")
    assert "<!-- mes flux -->" in text and 'fr:priority="1"' in text and 'custom="x"' in text
    assert 'interval="15m"' in text
    sources = OpmlDocument.load(path).sources()
    assert [s.url for s in sources] == [
        "https://www.lemonde.fr/rss/une.xml", "https://www.ouest-france.fr/rss/une",
        "https://www.liberation.fr/rss", "https://news.ycombinator.com/rss",
        "https://next.ink/feed/"]
    assert sources[-1].folder == "tech/fr" and sources[-1].title == "Next"
    workspace.run("feeds", "remove", "https://www.lemonde.fr/rss/une.xml")
    assert "lemonde" not in path.read_text(encoding="utf-8")
    workspace.run("feeds", "remove", "https://absent.example/", code=1)
    assert sorted(p.name for p in workspace.root.iterdir() if p.name.startswith(".")) == []


def test_cli_never_rewrites_a_broken_file(workspace: Workspace):
    path = write(workspace.root / "feeds.opml", "<opml><body>")
    result = workspace.run("feeds", "add", "https://next.ink/feed/", code=1)
    assert result.stderr.strip().startswith("veille: feeds.opml: line 1, column 13: not valid XML")
    assert len(result.stderr.strip().splitlines()) == 1
    assert path.read_text() == "<opml><body>"


def test_cli_import_merges_without_duplicates(workspace: Workspace, tmp_path):
    write(workspace.root / "feeds.opml")
    other = tmp_path / "other.opml"
    export = export_opml(OpmlDocument.load(workspace.root / "feeds.opml").sources()[:1]
                         + [*OpmlDocument.parse(other, b"""<opml version="1.0"><body>
        <outline text="tech"><outline text="Numerama" xmlUrl="https://www.numerama.com/feed/"/>
        </outline></body></opml>""").sources()], datetime.now(UTC))
    other.write_text(export)
    assert "imported 1 feeds (1 already there)" in workspace.run("feeds", "import",
                                                                 str(other)).stdout
    sources = OpmlDocument.load(workspace.root / "feeds.opml").sources()
    assert [s.url for s in sources].count("https://www.lemonde.fr/rss/une.xml") == 1
    assert ("tech", "https://www.numerama.com/feed/") in [(s.folder, s.url) for s in sources]


def test_export_is_clean_opml2(workspace: Workspace):
    write(workspace.root / "feeds.opml")
    out = workspace.run("feeds", "export").stdout
    root = ET.fromstring(out.encode())
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.find("head/title") is not None and root.find("head/dateCreated") is not None
    outlines = root.findall(".//outline")
    assert all(o.get("text") for o in outlines)
    feeds = [o for o in outlines if o.get("xmlUrl")]
    assert all(o.get("type") == "rss" for o in feeds)
    presse = root.find("body/outline[@text='presse']")
    assert presse is not None and presse.find("outline[@text='régions']/outline") is not None
    # a feed's own polling interval survives an export and a re-import
    intervals = {s.url: s.interval for s in OpmlDocument.load(workspace.root / "feeds.opml")
                 .sources() if s.interval}
    assert intervals
    again = OpmlDocument.parse(workspace.root / "x.opml", out.encode()).sources()
    assert {s.url: s.interval for s in again if s.interval} == intervals


def test_feeds_list_shows_folders_and_state(workspace: Workspace):
    write(workspace.root / "feeds.opml")
    text = workspace.run("feeds", "list").stdout
    assert text.index("presse/") < text.index("presse/régions/")
    assert "new" in text and "Le Monde" in text


def test_unwritable_feeds_file_is_one_clear_line(workspace: Workspace):
    workspace.config.write_text(workspace.config.read_text().replace(
        'feeds = "feeds.opml"', 'feeds = "no/such/dir/feeds.opml"'))
    result = workspace.run("feeds", "add", "https://next.ink/feed/", "--no-check", code=1)
    assert result.stderr.startswith("veille: feeds.opml: cannot write: No such file")
    assert len(result.stderr.strip().splitlines()) == 1
