"""veille.toml: discovery order, defaults, validation messages that name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.cli import cli
from veille.config import find_config, load_settings, settings_from_toml
from veille.errors import ConfigError
from veille.units import format_duration, parse_duration, parse_size

from .conftest import Workspace

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("7d", 604800), ("0.5s", 0.5),
    ("45", 45), (12, 12), ("250ms", 0.25),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-3s", "3x", True])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_sizes_and_formatting():
    assert parse_size("10MiB") == 10 * 1024 * 1024
    assert parse_size("512k") == 512 * 1024 and parse_size("2MB") == 2_000_000
    assert format_duration(5400) == "1h30m" and format_duration(90) == "1m30s"


def test_discovery_order(tmp_path, monkeypatch):
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert find_config(None, env, cwd) is None
    xdg = tmp_path / "xdg" / "veille" / "veille.toml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("")
    assert find_config(None, env, cwd) == xdg
    local = cwd / "veille.toml"
    local.write_text("")
    assert find_config(None, env, cwd) == local
    other = tmp_path / "other.toml"
    other.write_text("")
    assert find_config(None, {**env, "VEILLE_CONFIG": str(other)}, cwd) == other
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("")
    assert find_config(explicit, {**env, "VEILLE_CONFIG": str(other)}, cwd) == explicit
    with pytest.raises(ConfigError, match="no such file"):
        find_config(tmp_path / "absent.toml", env, cwd)


def test_no_file_at_all_uses_xdg_defaults(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    s = settings_from_toml({}, None, env)
    assert s.database == tmp_path / "data" / "veille" / "veille.db"
    assert s.feeds == tmp_path / ".config" / "veille" / "feeds.opml"
    assert s.fetch.interval == 1800 and s.fetch.concurrency == 128 and s.fetch.per_host == 4
    assert s.fetch.max_size == 10 * 1024 * 1024 and s.fetch.timeout == 30


def test_paths_are_relative_to_the_config_file(tmp_path):
    f = tmp_path / "conf" / "veille.toml"
    s = settings_from_toml({"database": "var/v.db", "feeds": "/abs/feeds.opml"}, f, {})
    assert s.database == tmp_path / "conf" / "var" / "v.db"
    assert s.feeds == Path("/abs/feeds.opml")
    assert s.watchlists == tmp_path / "conf" / "watchlists.toml"


@pytest.mark.parametrize("data, message", [
    ({"feeds": 42}, "veille.toml: feeds: expected a path, got 42"),
    ({"fetch": {"interval": "soon"}},
     'veille.toml: fetch.interval: expected a duration like "90s", "30m" or "2h", got \'soon\''),
    ({"fetch": {"intervall": "5m"}}, 'veille.toml: fetch.intervall: unknown key (did you mean '
                                     '"interval"?)'),
    ({"databse": "x.db"}, 'veille.toml: databse: unknown key (did you mean "database"?)'),
    ({"fetch": {"concurrency": 0}}, "veille.toml: fetch.concurrency: expected a whole number"),
    ({"fetch": {"interval": "0s"}}, "veille.toml: fetch.interval: expected a duration above zero"),
    ({"fetch": {"max_size": -5}}, "veille.toml: fetch.max_size: expected a size above zero"),
    ({"timezone": "Paris"}, "veille.toml: timezone: unknown time zone 'Paris'"),
    ({"fetch": "fast"}, "veille.toml: fetch: expected a table [fetch]"),
    ({"channels": {"x": {"type": "pigeon"}}}, "veille.toml: channels.x.type: expected one of"),
    ({"channels": {"x": {"type": "webhook"}}}, "veille.toml: channels.x.url: missing"),
])
def test_validation_names_file_and_key(tmp_path, data, message):
    with pytest.raises(ConfigError) as e:
        settings_from_toml(data, tmp_path / "veille.toml", {})
    assert str(e.value).startswith(message)


def test_cli_bad_config_is_one_line(workspace: Workspace):
    workspace.config.write_text('feeds = 42\n')
    result = workspace.run("feeds", "list", code=1)
    assert result.stderr == "veille: veille.toml: feeds: expected a path, got 42\n"
    workspace.config.write_text('feeds = "a\n')
    result = workspace.run("entries", code=1)
    assert result.stderr.startswith("veille: veille.toml: not valid TOML")
    assert "Traceback" not in result.output


def test_cli_unusable_database_is_fatal(workspace: Workspace):
    (workspace.root / "var").write_text("a file where a folder should be")
    result = workspace.run("fetch", code=1)
    assert result.stderr.startswith("veille: ") and "cannot use the database" in result.stderr


def test_shipped_files_load_and_match_the_starter_copies():
    s = load_settings(ROOT / "veille.toml", {})
    assert s.timezone == "Europe/Paris"
    for name in ("veille.toml", "feeds.opml", "watchlists.toml"):
        assert (ROOT / name).read_bytes() == (ROOT / "src/veille/starter" / name).read_bytes()


def test_init_writes_starters_and_never_overwrites(workspace: Workspace, tmp_path):
    target = tmp_path / "fresh"
    out = workspace.runner.invoke(cli, ["init", str(target)])
    assert out.exit_code == 0 and out.stdout.count("created") == 3
    (target / "feeds.opml").write_text("mine")
    out = workspace.runner.invoke(cli, ["init", str(target)])
    assert "kept" in out.stdout and (target / "feeds.opml").read_text() == "mine"


def test_help_lists_commands_and_each_has_an_example(workspace: Workspace):
    def walk(group, prefix=()):
        for name, cmd in group.commands.items():
            yield (*prefix, name), cmd
            if hasattr(cmd, "commands"):
                yield from walk(cmd, (*prefix, name))

    top = workspace.runner.invoke(cli, ["--help"]).stdout
    for path, cmd in walk(cli):
        if len(path) == 1:
            assert path[0] in top
        assert "Example" in (cmd.help or ""), path
        assert cmd.get_short_help_str(), path
    assert "veille, version" in workspace.runner.invoke(cli, ["--version"]).stdout


def test_secrets_from_credentials_env_or_file(tmp_path):
    from veille.config import ChannelSettings, read_secret

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smtp-password").write_text("from-systemd\n")
    (tmp_path / "pw").write_text("from-file\n")
    both = ChannelSettings("equipe", "email", {"password_credential": "smtp-password",
                                               "password_env": "PW"})
    assert read_secret(both, "password", {"CREDENTIALS_DIRECTORY": str(creds),
                                          "PW": "from-env"}) == "from-systemd"
    assert read_secret(both, "password", {"PW": "from-env"}) == "from-env"
    by_file = ChannelSettings("equipe", "email", {"password_file": str(tmp_path / "pw")})
    assert read_secret(by_file, "password", {}) == "from-file"
    assert read_secret(ChannelSettings("x", "email", {}), "password", {}) is None
