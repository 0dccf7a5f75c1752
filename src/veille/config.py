"""veille.toml -> Settings, validated once; the only module that reads the environment.

Every error names the file and the key (`veille.toml: fetch.interval: expected a duration…`),
and an unknown key gets a "did you mean" hint, because a typo silently ignored is a watch
silently broken.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import __version__
from . import config_values as v
from .errors import ConfigError
from .stories import StoryConfig

DEFAULT_USER_AGENT = f"veille/{__version__} (feed watcher; +https://github.com/veille/veille)"
CONSOLE_CHANNEL = "console"


@dataclass(frozen=True)
class FetchSettings:
    interval: float = 1800.0
    concurrency: int = 128  # 1,000 feeds at 50 ms: 0.4 s waiting on the network
    per_host: int = 4
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_size: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    host_delay: float = 0.0
    max_interval: float = 86400.0  # what feed hints may not go above; the cap of backoff
    parse_timeout: float = 60.0  # a parse taking longer has its worker killed
    allow_private: bool = True  # false: refuse loopback/private addresses (address_guard.py)


@dataclass(frozen=True)
class DigestSettings:
    catchup: float = 86400.0
    retention: float = 90 * 86400.0


@dataclass(frozen=True)
class HealthSettings:
    """When a feed counts as blind (see health.py), and where its alerts go."""

    broken_after: float = 86400.0  # failing this long (and for broken_polls polls) is broken
    broken_polls: int = 3  # one unlucky poll, or two, is not a broken feed
    stale_after_min: float = 3 * 86400.0  # never stale sooner, however busy the feed
    stale_factor: float = 3.0  # stale after this many times its usual gap between entries
    channels: tuple[str, ...] = ()  # empty: the console

    @property
    def targets(self) -> tuple[str, ...]:
        """The channels health alerts and the weekly summary go to."""
        return self.channels or (CONSOLE_CHANNEL,)


@dataclass(frozen=True)
class WebSubSettings:
    """[websub]: push from hubs, off unless `listen` and `public_url` are both set."""

    host: str = "127.0.0.1"
    port: int = 8089  # 0: any free port (it is logged), for tests
    public_url: str = ""  # what hubs call: the user's reverse proxy in front of listen
    lease: float = 10 * 86400.0  # the lease we ask for; the hub decides
    max_size: int = 1024 * 1024  # a push body larger than this is refused (413)
    poll_interval: float = 6 * 3600.0  # safety-net polling of a feed with an active push

    @property
    def enabled(self) -> bool:
        return bool(self.public_url)


@dataclass(frozen=True)
class ReportSettings:
    """The report the daemon sends on its own (report/); no schedule: never."""

    schedule: str | None = None  # "weekly mon 08:00", "daily 08:00" or cron
    since: float = 7 * 86400.0  # the period each report covers
    channels: tuple[str, ...] = ()  # empty: the console
    watchlists: tuple[str, ...] = ()  # empty: every enabled watchlist

    @property
    def targets(self) -> tuple[str, ...]:
        return self.channels or (CONSOLE_CHANNEL,)


@dataclass(frozen=True)
class MetricsSettings:
    """[metrics]: where /metrics and /healthz are served; nowhere unless `listen` is set."""

    listen: tuple[str, int] | None = None  # host, port (0: any free port, logged at start)


@dataclass(frozen=True)
class ChannelSettings:
    name: str
    type: str  # email | webhook | apprise | console
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    config_file: Path | None
    database: Path
    feeds: Path
    watchlists: Path
    timezone: str = "UTC"
    language: str = "fr"  # what digests, alerts and reports speak (i18n.py); the CLI: English
    fetch: FetchSettings = field(default_factory=FetchSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    channels: Mapping[str, ChannelSettings] = field(default_factory=dict)
    health: HealthSettings = field(default_factory=HealthSettings)
    stories: StoryConfig = field(default_factory=StoryConfig)
    websub: WebSubSettings = field(default_factory=WebSubSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    #: veille.toml names its watchlists file: then a missing one is a typo, not "none yet"
    watchlists_named: bool = False
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def lock_file(self) -> Path:
        return self.database.with_suffix(self.database.suffix + ".lock")


Spec = Mapping[str, Callable[[Any], Any]]

_TOP: Spec = {"database": v.path, "feeds": v.path, "watchlists": v.path, "timezone": v.timezone,
              "language": v.choice("fr", "en")}
_FETCH: Spec = {
    "interval": v.positive_duration, "concurrency": v.positive_int, "per_host": v.positive_int,
    "timeout": v.positive_duration, "connect_timeout": v.positive_duration, "max_size": v.size,
    "max_redirects": v.positive_int, "user_agent": v.string, "host_delay": v.duration,
    "max_interval": v.positive_duration, "parse_timeout": v.positive_duration,
    "allow_private": v.boolean,
}
_DIGEST: Spec = {"catchup": v.duration, "retention": v.duration}
_STORIES: Spec = {"enabled": v.boolean, "threshold": v.fraction, "window": v.positive_duration,
                  "names_threshold": v.fraction_or_off, "site_threshold": v.fraction_or_off}
_WEBSUB: Spec = {"listen": v.listen, "public_url": v.public_url, "lease": v.positive_duration,
                 "max_size": v.size, "poll_interval": v.positive_duration}
_REPORT: Spec = {"schedule": v.report_schedule, "since": v.positive_duration,
                 "channels": v.string_list, "watchlists": v.string_list}
_METRICS: Spec = {"listen": v.listen}
_HEALTH: Spec = {"broken_after": v.positive_duration, "stale_after_min": v.positive_duration,
                 "channels": v.string_list}
_CHANNELS: dict[str, Spec] = {
    "email": {
        "host": v.string, "port": v.port, "security": v.choice("starttls", "ssl", "none"),
        "username": v.string, "password_env": v.string, "password_file": v.path,
        "password_credential": v.string,
        "from": v.string, "to": v.string_list, "timeout": v.duration, "ca_file": v.path,
    },
    "webhook": {"url": v.public_url, "secret_env": v.string, "secret_file": v.path,
                "secret_credential": v.string, "timeout": v.duration},
    "apprise": {"urls": v.string_list},
    "console": {},
}
_REQUIRED = {"email": ("host", "from", "to"), "webhook": ("url",), "apprise": ("urls",)}


def _check(file: Path | None, prefix: str, table: Mapping[str, Any], spec: Spec,
           sections: tuple[str, ...] = ()) -> dict[str, Any]:
    """Convert the keys of one table, refusing unknown ones with the closest known key."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key in sections:
            continue
        if key not in spec:
            close = difflib.get_close_matches(key, [*spec, *sections], n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise ConfigError(file, name, f"unknown key{hint}")
        try:
            out[key] = spec[key](value)
        except ValueError as e:
            raise ConfigError(file, name, str(e)) from None
    return out


def _table(file: Path | None, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(file, key, f"expected a table [{key}], got {v.describe(value)}")
    return value


def _channels(file: Path | None, data: Mapping[str, Any]) -> dict[str, ChannelSettings]:
    out = {CONSOLE_CHANNEL: ChannelSettings(CONSOLE_CHANNEL, "console")}
    for name, table in _table(file, data, "channels").items():
        prefix = f"channels.{name}."
        if not isinstance(table, dict):
            raise ConfigError(file, f"channels.{name}", "expected a table")
        kind = table.get("type")
        if kind not in _CHANNELS:
            raise ConfigError(file, prefix + "type",
                              f"expected one of {', '.join(_CHANNELS)}, got {v.describe(kind)}")
        options = _check(file, prefix, {k: v for k, v in table.items() if k != "type"},
                         _CHANNELS[kind])
        for key in _REQUIRED.get(kind, ()):
            if key not in options:
                raise ConfigError(file, prefix + key, "missing (required for a "
                                  f"{kind} channel)")
        out[name] = ChannelSettings(name, kind, options)
    return out


def _channel_names(file: Path | None, key: str, options: dict[str, Any],
                   channels: Mapping[str, ChannelSettings]) -> tuple[str, ...]:
    """A section's `channels`, each checked against those configured, as watchlists' are."""
    names = tuple(dict.fromkeys(options.pop("channels", ())))
    for name in names:
        if name not in channels:
            close = difflib.get_close_matches(name, list(channels), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise ConfigError(file, key, f"no channel named {name!r} in the configuration{hint}")
    return names


def _health(file: Path | None, data: Mapping[str, Any], channels: Mapping[str, ChannelSettings]
            ) -> HealthSettings:
    """[health], its channels checked against those configured."""
    options = _check(file, "health.", _table(file, data, "health"), _HEALTH)
    names = _channel_names(file, "health.channels", options, channels)
    return HealthSettings(**options, channels=names)


def _report(file: Path | None, data: Mapping[str, Any], channels: Mapping[str, ChannelSettings]
            ) -> ReportSettings:
    """[report]: when the daemon sends it, over which period, to which channels."""
    options = _check(file, "report.", _table(file, data, "report"), _REPORT)
    names = _channel_names(file, "report.channels", options, channels)
    if "watchlists" in options:
        options["watchlists"] = tuple(dict.fromkeys(options["watchlists"]))
    return ReportSettings(**options, channels=names)


def settings_from_toml(data: Mapping[str, Any], file: Path | None,
                       env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from parsed TOML; paths are relative to the config file's folder."""
    env = os.environ if env is None else env
    base = file.parent if file else Path.cwd()
    top = _check(file, "", data, _TOP, sections=("fetch", "digest", "channels", "health",
                                                         "stories", "websub", "report",
                                                         "metrics"))
    fetch = FetchSettings(**_check(file, "fetch.", _table(file, data, "fetch"), _FETCH))
    digest = DigestSettings(**_check(file, "digest.", _table(file, data, "digest"), _DIGEST))
    defaults = default_paths(env) if file is None else {
        "database": _state_dir(env, base) / "veille.db",
        "feeds": base / "feeds.opml",
        "watchlists": base / "watchlists.toml",
    }

    def path(key: str) -> Path:
        return (base / Path(top[key]).expanduser()) if key in top else defaults[key]

    channels = _channels(file, data)
    return Settings(
        config_file=file, database=path("database"), feeds=path("feeds"),
        watchlists=path("watchlists"), timezone=top.get("timezone", "UTC"),
        language=top.get("language", "fr"), fetch=fetch, digest=digest, channels=channels,
        health=_health(file, data, channels), stories=_stories(file, data),
        websub=_websub(file, data),
        report=_report(file, data, channels),
        metrics=MetricsSettings(**_check(file, "metrics.", _table(file, data, "metrics"),
                                         _METRICS)),
        watchlists_named="watchlists" in top,
    )


def _websub(file: Path | None, data: Mapping[str, Any]) -> WebSubSettings:
    """[websub]: `listen` and `public_url` go together (one without the other is a mistake)."""
    options = _check(file, "websub.", _table(file, data, "websub"), _WEBSUB)
    if options and ("listen" in options) != ("public_url" in options):
        missing = "public_url" if "listen" in options else "listen"
        raise ConfigError(file, f"websub.{missing}", "missing (push needs both listen and "
                          "public_url)")
    if "listen" in options:
        options["host"], options["port"] = options.pop("listen")
    return WebSubSettings(**options)


def _stories(file: Path | None, data: Mapping[str, Any]) -> StoryConfig:
    """[stories]: grouping on or off, its similarity thresholds (words; words with agreeing
    names; one site's update), its window."""
    options = _check(file, "stories.", _table(file, data, "stories"), _STORIES)
    if "window" in options:
        options["window"] = timedelta(seconds=options["window"])
    return StoryConfig(**options)


def _state_dir(env: Mapping[str, str], fallback: Path) -> Path:
    """systemd's StateDirectory= sets $STATE_DIRECTORY; elsewhere the config's folder."""
    state = env.get("STATE_DIRECTORY")
    return Path(state.split(":")[0]) if state else fallback


def _xdg(env: Mapping[str, str], var: str, default: str) -> Path:
    value = env.get(var)
    return Path(value) if value else Path(env.get("HOME", str(Path.home()))) / default


def default_paths(env: Mapping[str, str]) -> dict[str, Path]:
    """Where things live when there is no config file at all."""
    conf = _xdg(env, "XDG_CONFIG_HOME", ".config") / "veille"
    data = env.get("STATE_DIRECTORY") or str(_xdg(env, "XDG_DATA_HOME", ".local/share") / "veille")
    return {"database": Path(data) / "veille.db", "feeds": conf / "feeds.opml",
            "watchlists": conf / "watchlists.toml"}


def find_config(explicit: Path | None, env: Mapping[str, str] | None = None,
                cwd: Path | None = None) -> Path | None:
    """--config, else $VEILLE_CONFIG, else ./veille.toml, else XDG, else /etc; None if none exist."""
    env = os.environ if env is None else env
    if explicit is not None:
        return _named(explicit, "")
    if env.get("VEILLE_CONFIG"):
        return _named(Path(env["VEILLE_CONFIG"]), " (from $VEILLE_CONFIG)")
    candidates = [
        (cwd or Path.cwd()) / "veille.toml",
        _xdg(env, "XDG_CONFIG_HOME", ".config") / "veille" / "veille.toml",
        Path("/etc/veille/veille.toml"),
    ]
    for candidate in candidates:
        if candidate.is_dir():  # a veille.toml that is a folder is a mistake, not "none"
            raise ConfigError(candidate, None, "is a directory, not a file")
        if candidate.is_file():
            return candidate
    return None


def _named(path: Path, where: str) -> Path:
    """A configuration file the user named: it must be a file."""
    if path.is_dir():
        raise ConfigError(path, None, f"{path} is a directory, not a file{where}")
    if not path.is_file():
        raise ConfigError(path, None, f"no such file: {path}{where}")
    return path


def load_settings(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    file = find_config(explicit, env)
    if file is None:
        return settings_from_toml({}, None, env)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(file, None, f"not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(file, None, f"cannot read: {e}") from None
    return settings_from_toml(data, file.resolve(), env)


def read_secret(channel: ChannelSettings, key: str,
                env: Mapping[str, str] | None = None) -> str | None:
    """A channel's secret from `KEY_credential` (systemd's LoadCredential=, read from
    $CREDENTIALS_DIRECTORY), `KEY_env` or `KEY_file`.

    Read at the moment of use so a rotated secret needs no restart, and never stored in Settings
    so it cannot leak into a repr or a log.
    """
    env = os.environ if env is None else env
    opts = channel.options
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds and f"{key}_credential" in opts:
        candidate = Path(creds) / opts[f"{key}_credential"]
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").strip()
    if f"{key}_env" in opts:
        value = env.get(opts[f"{key}_env"])
        if value:
            return value
    if f"{key}_file" in opts:
        try:
            return Path(opts[f"{key}_file"]).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(None, f"channels.{channel.name}.{key}_file",
                              f"cannot read: {e.strerror}") from None
    return None
