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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import __version__
from .cron import parse_schedule
from .errors import ConfigError
from .stories import StoryConfig
from .units import parse_duration, parse_size

DEFAULT_USER_AGENT = f"veille/{__version__} (feed watcher; +https://github.com/veille/veille)"
CONSOLE_CHANNEL = "console"


@dataclass(frozen=True)
class FetchSettings:
    interval: float = 1800.0
    concurrency: int = 32
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
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def lock_file(self) -> Path:
        return self.database.with_suffix(self.database.suffix + ".lock")


# --- value converters: each raises ValueError with the message a user should read --------------

def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(
        value, bool) else str(value)


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a path, got {_describe(value)}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)}")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {_describe(value)}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_describe(value)}")
    return value


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"expected a number between 0 and 1, got {_describe(value)}")
    return float(value)


def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        raise ValueError(
            f'expected a duration like "90s", "30m" or "2h", got {_describe(value)}'
        ) from None


def _positive_duration(value: Any) -> float:
    seconds = _duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a duration above zero, got {_describe(value)}")
    return seconds


def _size(value: Any) -> int:
    try:
        size = parse_size(value)
    except (ValueError, TypeError):
        raise ValueError(f'expected a size like "10MiB", got {_describe(value)}') from None
    if size <= 0:
        raise ValueError(f"expected a size above zero, got {_describe(value)}")
    return size


def _timezone(value: Any) -> str:
    value = _string(value)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone {value!r} (try "Europe/Paris" or "UTC")') from None
    return value


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {_describe(value)}")
    return value


def _report_schedule(value: Any) -> str:
    value = _string(value)
    if parse_schedule(value).instant:  # raises ValueError for what is not a schedule at all
        raise ValueError('a report cannot be "instant": try "weekly mon 08:00"')
    return value


def _listen(value: Any) -> tuple[str, int]:
    """ "127.0.0.1:9357", "[::1]:9357" or "localhost:9357" -> (host, port)."""
    host, sep, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f'expected an address like "127.0.0.1:9357", got {_describe(value)}')
    return host, int(port)


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"expected a port number, got {_describe(value)}")
    return value



def _public_url(value: Any) -> str:
    if not _string(value).startswith(("https://", "http://")):
        raise ValueError(f"expected an http(s) URL, got {_describe(value)}")
    return value


def _choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {_describe(value)}")
        return value
    return convert


Spec = Mapping[str, Callable[[Any], Any]]

_TOP: Spec = {"database": _path, "feeds": _path, "watchlists": _path, "timezone": _timezone,
              "language": _choice("fr", "en")}
_FETCH: Spec = {
    "interval": _positive_duration, "concurrency": _positive_int, "per_host": _positive_int,
    "timeout": _positive_duration, "connect_timeout": _positive_duration, "max_size": _size,
    "max_redirects": _positive_int, "user_agent": _string, "host_delay": _duration,
    "max_interval": _positive_duration, "parse_timeout": _positive_duration,
    "allow_private": _boolean,
}
_DIGEST: Spec = {"catchup": _duration, "retention": _duration}
_STORIES: Spec = {"enabled": _boolean, "threshold": _fraction, "window": _positive_duration}
_WEBSUB: Spec = {"listen": _listen, "public_url": _public_url, "lease": _positive_duration,
                 "max_size": _size, "poll_interval": _positive_duration}
_REPORT: Spec = {"schedule": _report_schedule, "since": _positive_duration,
                 "channels": _string_list, "watchlists": _string_list}
_METRICS: Spec = {"listen": _listen}
_HEALTH: Spec = {"broken_after": _positive_duration, "stale_after_min": _positive_duration,
                 "channels": _string_list}
_CHANNELS: dict[str, Spec] = {
    "email": {
        "host": _string, "port": _port, "security": _choice("starttls", "ssl", "none"),
        "username": _string, "password_env": _string, "password_file": _path,
        "password_credential": _string,
        "from": _string, "to": _string_list, "timeout": _duration, "ca_file": _path,
    },
    "webhook": {"url": _string, "secret_env": _string, "secret_file": _path,
                "secret_credential": _string, "timeout": _duration},
    "apprise": {"urls": _string_list},
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
        raise ConfigError(file, key, f"expected a table [{key}], got {_describe(value)}")
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
                              f"expected one of {', '.join(_CHANNELS)}, got {_describe(kind)}")
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
    """[stories]: grouping on or off, its similarity threshold, its window."""
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
        if not explicit.is_file():
            raise ConfigError(explicit, None, "no such file")
        return explicit
    if env.get("VEILLE_CONFIG"):
        path = Path(env["VEILLE_CONFIG"])
        if not path.is_file():
            raise ConfigError(path, None, "no such file (from $VEILLE_CONFIG)")
        return path
    candidates = [
        (cwd or Path.cwd()) / "veille.toml",
        _xdg(env, "XDG_CONFIG_HOME", ".config") / "veille" / "veille.toml",
        Path("/etc/veille/veille.toml"),
    ]
    return next((p for p in candidates if p.is_file()), None)


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
