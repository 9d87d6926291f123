"""Operating-system detection: `/etc/os-release` (or `/usr/lib/os-release`) and the legacy release files."""

from __future__ import annotations

import dataclasses
import re
import shlex

from vigil.fs import FileSystem, FSError, read_bytes
from vigil.inventory.model import OSInfo
from vigil.inventory.os.eol import end_of_life

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
_LIMIT = 64 << 10

# os-release ID (or ID_LIKE) → family: the matcher picks its advisory rules by family
_FAMILIES = {
    "debian": "debian", "ubuntu": "debian",
    "rhel": "redhat", "centos": "redhat", "almalinux": "redhat", "rocky": "redhat", "ol": "redhat",
    "fedora": "redhat", "amzn": "amazon",
    "sles": "suse", "sled": "suse", "opensuse-leap": "suse", "opensuse-tumbleweed": "suse",
    "opensuse": "suse", "suse": "suse",
    "alpine": "alpine",
}  # fmt: skip

# legacy release files, tried in order when there is no os-release
_LEGACY: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("/etc/alpine-release", "alpine", re.compile(r"^(?P<v>\d+(?:\.\d+)*)")),
    ("/etc/centos-release", "centos", re.compile(r"release (?P<v>[\d.]+)")),
    ("/etc/redhat-release", "rhel", re.compile(r"release (?P<v>[\d.]+)")),
    ("/etc/system-release", "amzn", re.compile(r"release (?P<v>[\d.]+)")),
    ("/etc/debian_version", "debian", re.compile(r"^(?P<v>[\w./]+)")),
)
_LEGACY_NAMES = (
    ("Amazon Linux", "amzn"), ("CentOS", "centos"), ("AlmaLinux", "almalinux"), ("Rocky", "rocky"),
    ("Oracle", "ol"), ("Fedora", "fedora"), ("Red Hat", "rhel"),
)  # fmt: skip


def parse_os_release(text: str) -> dict[str, str]:
    """os-release KEY=value lines (shell-quoted values) as a dict."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw, comments=False, posix=True)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = " ".join(parts)
    return values


def family_of(os_id: str, id_like: str = "") -> str:
    for candidate in [os_id, *id_like.split()]:
        if candidate in _FAMILIES:
            return _FAMILIES[candidate]
    return "unknown"


def _read(fs: FileSystem, path: str) -> str | None:
    try:
        return read_bytes(fs, path, _LIMIT).decode("utf-8", "replace")
    except FSError:
        return None


def detect_os(fs: FileSystem) -> OSInfo | None:
    """The target's OS, or None when no release file is readable."""
    for path in OS_RELEASE_PATHS:
        text = _read(fs, path)
        if text is not None:
            info = _from_os_release(parse_os_release(text), path)
            if info is not None:
                return _with_debian_point_release(fs, info)
    for path, os_id, pattern in _LEGACY:
        text = _read(fs, path)
        if text is None:
            continue
        for label, named_id in _LEGACY_NAMES:
            if label in text:
                os_id = named_id
                break
        match = pattern.search(text)
        version = match["v"] if match else None
        first_line = text.strip().splitlines()[0] if text.strip() else None
        return describe_os(os_id, "", version, None, first_line, None, path)
    return None


def _from_os_release(values: dict[str, str], path: str) -> OSInfo | None:
    os_id = values.get("ID", "").lower()
    if not os_id:
        return None
    codename = values.get("VERSION_CODENAME") or values.get("UBUNTU_CODENAME") or None
    if not codename and (match := re.search(r"\((\w+)\)", values.get("VERSION", ""))):
        codename = match.group(1).lower()
    return describe_os(
        os_id,
        values.get("ID_LIKE", ""),
        values.get("VERSION_ID") or None,
        codename,
        values.get("PRETTY_NAME") or values.get("NAME"),
        values.get("CPE_NAME") or None,
        path,
        version=values.get("VERSION") or None,
    )


def describe_os(
    os_id: str,
    id_like: str,
    version_id: str | None,
    codename: str | None,
    name: str | None,
    cpe: str | None,
    source: str,
    *,
    version: str | None = None,
) -> OSInfo:
    """The `OSInfo` of a release, with its family and end of life (also for an OS named by an SBOM)."""
    eol = end_of_life(os_id, version_id)
    return OSInfo(
        family=family_of(os_id, id_like),
        id=os_id,
        version_id=version_id,
        version=version,
        codename=codename,
        name=name,
        cpe=cpe,
        eol=eol.is_past if eol else None,
        eol_date=eol.date.isoformat() if eol else None,
        source=source,
    )


def _with_debian_point_release(fs: FileSystem, info: OSInfo) -> OSInfo:
    """Debian testing/sid has no VERSION_ID: take the codename from /etc/debian_version ("trixie/sid")."""
    if info.id != "debian" or info.version_id or info.codename:
        return info
    text = _read(fs, "/etc/debian_version")
    if text and "/" in text:
        return dataclasses.replace(info, codename=text.strip().split("/")[0])
    return info
