"""The server's settings: `DIR/vigil.toml`, read into a frozen `Settings` and written back with tomli-w.

Paths are relative to DIR unless absolute, so a server's DIR can be moved as a whole. Keys this version
does not know are kept (and written back) for the parts of the service that read them; every value this
version reads is checked, and a wrong one is named with its key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomli_w

SETTINGS_FILE = "vigil.toml"
MAX_SETTINGS_BYTES = 1 << 20
DEFAULT_REGION = "local"
DEFAULT_LISTEN = "127.0.0.1:8443"
# every cadence of DESIGN §3 (and the server's own chores), as durations
DEFAULT_SCHEDULE = {
    "discovery": "1h",  # re-read each provider's instances
    "agentless": "24h",  # agentless scan of every eligible instance
    "feeds": "6h",  # `db update` of the configured feeds
    "purge": "1h",  # findings the lifecycle says are gone for good
    "reevaluate": "30s",  # look for a new advisory database version
    "sweep": "1h",  # delete snapshots whose scan is not running
    "reconcile": "30m",  # re-create Inspector's associations where deleted
}
_DURATION = re.compile(r"(\d+)(s|m|h|d)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# botocore's rule for region names, which go into every signature's credential scope
_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LOOPBACK_NAMES = ("localhost",)
_WILDCARD = ("0.0.0.0", "::")


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the file and the key."""


def parse_duration(text: str) -> dt.timedelta:
    """`"30s"`, `"15m"`, `"1h"`, `"7d"`: a positive whole number of one unit."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 1h or 7d")
    return dt.timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def format_duration(duration: dt.timedelta) -> str:
    """The largest whole unit, but a day is written `24h` (as the schedule's defaults are)."""
    seconds = int(duration.total_seconds())
    units = ("d", "h", "m", "s") if seconds > _UNITS["d"] else ("h", "m", "s")
    unit = next((u for u in units if seconds % _UNITS[u] == 0), "s")
    return f"{seconds // _UNITS[unit]}{unit}"


@dataclass(frozen=True, slots=True)
class Listen:
    """Where the server listens: a host (name or address) and a port (0: any free one)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        host, sep, port = text.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:8443)")
        return cls(host, int(port))

    @property
    def loopback(self) -> bool:
        if self.host in _LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def wildcard(self) -> bool:
        return self.host in _WILDCARD

    def url(self, scheme: str = "https", port: int | None = None) -> str:
        """Where clients reach it: this host's name when it listens on every address."""
        host = socket.gethostname() if self.wildcard else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port if port is None else port}"

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server reads from `DIR/vigil.toml`, resolved against DIR."""

    dir: Path
    region: str = DEFAULT_REGION
    listen: Listen = field(default_factory=lambda: Listen.parse(DEFAULT_LISTEN))
    database_url: str | None = None  # None: SQLite at DIR/vigil.db
    advisory_db: Path = Path("advisories.db")
    exports: Path = Path("exports")
    snapshots: Path = Path("snapshots")
    tls_certificate: Path = Path("tls/certificate.pem")
    tls_private_key: Path = Path("tls/private-key.pem")
    secrets_key: Path = Path("secrets.key")
    feeds_file: Path | None = None  # None: the built-in feeds
    nvd_api_key: str | None = None  # NVD's API key (else $NVD_API_KEY): 50 requests per 30 s instead of 5
    schedule: Mapping[str, dt.timedelta] = field(
        default_factory=lambda: MappingProxyType({k: parse_duration(v) for k, v in DEFAULT_SCHEDULE.items()})
    )
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # keys kept for others

    def path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.dir / relative

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.dir / 'vigil.db'}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_PATHS = ("advisory_db", "exports", "snapshots", "tls_certificate", "tls_private_key", "secrets_key")
_TOP_LEVEL = {"region", "listen", "database_url", "feeds_file", "nvd_api_key", "schedule", *_PATHS}


def load_settings(directory: Path) -> Settings:
    path = directory / SETTINGS_FILE
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SETTINGS_BYTES + 1)
    except FileNotFoundError:
        raise SettingsError(
            f"{path}: no settings file (is {directory} a server made by `vigil server init`?)"
        ) from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the settings: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SETTINGS_BYTES:
        raise SettingsError(f"{path}: larger than {MAX_SETTINGS_BYTES} bytes")
    try:
        document = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return _settings(directory.absolute(), document)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc


def _settings(directory: Path, document: dict[str, Any]) -> Settings:
    defaults = Settings(directory)
    values: dict[str, Any] = {}
    if "region" in document:
        region = _text(document, "region")
        if not _REGION.fullmatch(region):
            raise ValueError(
                f"region {region!r}: lower-case letters, digits and dashes (e.g. local, eu-west-1)"
            )
        values["region"] = region
    if "listen" in document:
        values["listen"] = _parsed(document, "listen", Listen.parse)
    if "database_url" in document:
        values["database_url"] = _text(document, "database_url")
    if "feeds_file" in document:
        values["feeds_file"] = Path(_text(document, "feeds_file"))
    if "nvd_api_key" in document:
        values["nvd_api_key"] = _text(document, "nvd_api_key")
    for key in _PATHS:
        if key in document:
            values[key] = Path(_text(document, key))
    schedule = document.get("schedule", {})
    if not isinstance(schedule, dict):
        raise TypeError("[schedule] is not a table of durations")
    merged = dict(defaults.schedule)
    merged.update({name: _parsed(schedule, name, parse_duration, "schedule.") for name in schedule})
    values["schedule"] = MappingProxyType(merged)
    values["extra"] = MappingProxyType({k: v for k, v in document.items() if k not in _TOP_LEVEL})
    return dataclasses.replace(defaults, **values)


def _text(table: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{prefix}{key} is not a non-empty string")
    return value


def _parsed(table: Mapping[str, Any], key: str, parse: Any, prefix: str = "") -> Any:
    try:
        return parse(_text(table, key, prefix))
    except ValueError as exc:
        raise ValueError(f"{prefix}{key}: {exc}") from exc


def settings_document(settings: Settings) -> dict[str, Any]:
    """The TOML document of these settings (paths as given: relative to DIR unless absolute)."""
    document: dict[str, Any] = dict(settings.extra)
    document["region"] = settings.region
    document["listen"] = str(settings.listen)
    if settings.database_url is not None:
        document["database_url"] = settings.database_url
    if settings.feeds_file is not None:
        document["feeds_file"] = str(settings.feeds_file)
    if settings.nvd_api_key is not None:
        document["nvd_api_key"] = settings.nvd_api_key
    for key in _PATHS:
        document[key] = str(getattr(settings, key))
    document["schedule"] = {name: format_duration(every) for name, every in settings.schedule.items()}
    return document


def save_settings(settings: Settings) -> Path:
    """Write `DIR/vigil.toml` (readable by its owner only: it may hold a database password)."""
    path = settings.dir / SETTINGS_FILE
    temporary = path.with_name(f".{SETTINGS_FILE}.tmp")
    temporary.write_text(tomli_w.dumps(settings_document(settings)))
    temporary.chmod(0o600)
    temporary.replace(path)
    return path
