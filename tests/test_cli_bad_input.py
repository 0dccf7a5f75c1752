"""Bad input typed or written by a person: one clear line and a non-zero exit, never a
traceback, and the files people edit never written broken. (Found by a review that fed the
CLI hostile values: each case here crashed, was silently accepted, or broke feeds.opml.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from veille.files import atomic_write
from veille.opml import OpmlDocument

from .conftest import Workspace


def opml_bytes(ws: Workspace) -> bytes:
    return (ws.root / "feeds.opml").read_bytes()


@pytest.mark.parametrize("args, hint", [
    (["feeds", "add", "--no-check", "http://x/\x01"], "cannot hold"),
    (["feeds", "add", "--no-check", "http://exa mple.com/"], "cannot hold"),
    (["feeds", "add", "--no-check", "http://127.0.0.1:99999/"], "not a valid URL"),
    (["feeds", "add", "--no-check", "http://"], "names no host"),
    (["feeds", "add", "--no-check", "https://ex.fr/rss", "--title", "bad\x0btitle"],
     "control characters"),
    (["feeds", "add", "--no-check", "https://ex.fr/rss", "--folder", "f\x1bo"],
     "control characters"),
])
def test_feeds_add_refuses_what_feeds_opml_cannot_hold(workspace: Workspace, args, hint):
    before = opml_bytes(workspace)
    result = workspace.run(*args, code=2)
    assert hint in result.output
    assert opml_bytes(workspace) == before
    OpmlDocument.load(workspace.root / "feeds.opml")  # still readable


def test_feeds_move_and_import_check_urls_too(workspace: Workspace, tmp_path: Path):
    workspace.write_feeds(["https://ex.fr/rss"])
    before = opml_bytes(workspace)
    result = workspace.run("feeds", "move", "https://ex.fr/rss", "https://ex.fr/rss\x02",
                           code=2)
    assert "cannot hold" in result.output and opml_bytes(workspace) == before
    other = tmp_path / "other.opml"
    other.write_text(
        '<opml version="2.0"><body><outline text="a" xmlUrl="file:///etc/passwd"/>'
        '<outline text="b" xmlUrl="javascript:alert(1)"/><outline text="c" xmlUrl=" "/>'
        '<outline text="d" xmlUrl="https://ok.example/feed"/></body></opml>')
    result = workspace.run("feeds", "import", str(other))
    assert "imported 1 feeds (0 already there, 3 skipped)" in result.stdout
    assert "skipped 'file:///etc/passwd': expected an http:// or https:// URL" in result.stderr
    urls = [s.url for s in OpmlDocument.load(workspace.root / "feeds.opml").sources()]
    assert urls == ["https://ex.fr/rss", "https://ok.example/feed"]


def test_a_document_that_would_not_read_back_is_never_saved(tmp_path: Path):
    """Whatever the caller let through, feeds.opml is not written with a character XML
    cannot hold: the save refuses and the file stays as it was."""
    from veille.errors import OpmlError
    from veille.models import FeedSource

    path = tmp_path / "feeds.opml"
    doc = OpmlDocument.empty(path)
    doc.save()
    before = path.read_bytes()
    doc.add(FeedSource("https://ex.fr/\x01", "t"))
    with pytest.raises(OpmlError, match="not saved"):
        doc.save()
    assert path.read_bytes() == before


@pytest.mark.parametrize("since", ["99999999999d", "0001-01-01T00:00:00+05:00"])
@pytest.mark.parametrize("command", [["entries"], ["search", "nestlé"], ["watch", "spikes"],
                                     ["digest"]])
def test_since_out_of_range_is_one_line(workspace: Workspace, command, since):
    result = workspace.run(*command, "--since", since, code=2)
    assert "--since" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("head, reason", [
    ('<?xml version="1.0" encoding="klingon"?>', "cannot read its declared encoding"),
    ('<?xml version="1.0" encoding="utf-32"?>', "cannot read its declared encoding"),
])
def test_an_opml_in_an_unknown_encoding_is_one_line(workspace: Workspace, head, reason):
    (workspace.root / "feeds.opml").write_text(
        f'{head}<opml version="2.0"><body><outline text="a" xmlUrl="https://ex.fr/"/>'
        '</body></opml>', encoding="latin-1")
    for command in (["feeds", "list"], ["fetch"]):
        result = workspace.run(*command, code=1)
        assert f"feeds.opml: {reason}" in result.stderr, result.stderr


def test_outlines_and_queries_nested_too_deep_are_refused(workspace: Workspace):
    deep = "<outline text='f'>" * 1000 + "<outline text='a' xmlUrl='https://ex.fr/'/>" + \
        "</outline>" * 1000
    (workspace.root / "feeds.opml").write_text(f"<opml version='2.0'><body>{deep}</body></opml>")
    assert "nested more than 32 deep" in workspace.run("feeds", "list", code=1).stderr
    workspace.write_feeds([])
    for query in ("(" * 250 + "a" + ")" * 250, "a " + "NOT " * 1000 + "b"):
        result = workspace.run("search", query, code=2)
        assert "nested more than 32 deep" in result.output
        workspace.write_watchlists(f"[[watchlist]]\nname = 'x'\nquery = '{query}'\n")
        result = workspace.run("watch", "check", code=None)
        assert result.exit_code != 0 and "nested more than 32 deep" in result.stderr


@pytest.mark.parametrize("query, message", [
    ("title: nestlé", "title: needs a term right after it, without a space"),
    ("titel:nestlé", "unknown field titel: (did you mean title:?)"),
    ("auteur:dupont", "unknown field auteur: (did you mean author:?)"),
])
def test_a_mistyped_field_is_said_not_searched_as_words(workspace: Workspace, query, message):
    assert message in workspace.run("search", query, code=2).output


def test_fields_and_colons_that_are_fine(workspace: Workspace):
    for query in ("title:nestlé", "Nestlé: rappel", "CNIL: amende", "note:bien"):
        workspace.run("search", query)


@pytest.mark.parametrize("config, where", [
    ('[fetch]\ninterval = "99999999999d"\n', "fetch.interval"),
    ('[stories]\nwindow = "99999999999d"\n', "stories.window"),
    ('[channels.hook]\ntype = "webhook"\nurl = "x"\n', "channels.hook.url"),
    ('[channels.hook]\ntype = "webhook"\nurl = "file:///etc/passwd"\n', "channels.hook.url"),
])
def test_config_values_that_would_break_later_are_refused_now(workspace: Workspace, config,
                                                              where):
    workspace.config.write_text('database = "var/veille.db"\nfeeds = "feeds.opml"\n'
                                f'watchlists = "watchlists.toml"\n{config}')
    result = workspace.run("status", code=1)
    assert where in result.stderr and "Traceback" not in result.stderr


def test_a_feed_interval_beyond_a_century_is_an_opml_error(workspace: Workspace):
    (workspace.root / "feeds.opml").write_text(
        '<opml version="2.0"><body><outline text="a" xmlUrl="https://ex.fr/" '
        'interval="99999999999d"/></body></opml>')
    assert "too long a duration" in workspace.run("feeds", "list", code=1).stderr
    result = workspace.run("feeds", "add", "--no-check", "https://ex.fr/b", "--interval",
                           "99999999999d", code=2)
    assert "too long a duration" in result.output


def test_a_database_under_a_file_is_one_line(workspace: Workspace):
    (workspace.root / "plain").write_text("x")
    workspace.config.write_text('database = "plain/veille.db"\nfeeds = "feeds.opml"\n')
    for command in ("status", "entries"):
        result = workspace.run(command, code=1)
        assert "plain is not a directory" in result.stderr, result.stderr


def test_a_config_that_is_a_folder_is_an_error(workspace: Workspace, monkeypatch):
    folder = workspace.root / "conf.toml"
    folder.mkdir()
    result = workspace.runner.invoke(__import__("veille.cli").cli.cli,
                                     ["--config", str(folder), "status"])
    assert result.exit_code != 0 and "is a directory" in result.stderr
    monkeypatch.chdir(workspace.root / "conf.toml")
    (workspace.root / "conf.toml" / "veille.toml").mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(workspace.root / "nowhere"))
    result = workspace.runner.invoke(__import__("veille.cli").cli.cli, ["status"])
    assert result.exit_code != 0 and "is a directory, not a file" in result.stderr


def test_a_watchlists_file_named_in_the_config_must_exist(workspace: Workspace):
    workspace.config.write_text('database = "var/veille.db"\nfeeds = "feeds.opml"\n'
                                'watchlists = "watchlist.toml"\n')  # the typo
    result = workspace.run("watch", "check", code=None)
    assert result.exit_code != 0 and "watchlist.toml: no such file" in result.stderr
    workspace.config.write_text('database = "var/veille.db"\nfeeds = "feeds.opml"\n')
    (workspace.root / "watchlists.toml").unlink()
    assert "0 watchlists OK" in workspace.run("watch", "check").stdout  # none yet: fine


def test_saving_follows_a_symlink(tmp_path: Path):
    real = tmp_path / "dotfiles" / "feeds.opml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "feeds.opml"
    link.symlink_to(real)
    atomic_write(link, b"new")
    assert link.is_symlink() and real.read_text() == "new"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_saving_keeps_the_owner_and_group(tmp_path: Path):
    path = tmp_path / "feeds.opml"
    path.write_text("old")
    os.chown(path, 65534, 65534)
    path.chmod(0o640)
    atomic_write(path, b"new")
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o640)


def test_status_says_when_feeds_opml_is_broken(workspace: Workspace):
    (workspace.root / "feeds.opml").write_text('<opml version="2.0"><body><outline')
    result = workspace.run("status", "--format", "json", code=1)
    import json

    attention = json.loads(result.stdout)["attention"]
    assert any(a.startswith("feeds.opml: line 1") and "not valid XML" in a for a in attention)
