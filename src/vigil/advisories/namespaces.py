"""Where an advisory applies: OSV ecosystem strings and inventory OSes map to one namespace vocabulary.

`Debian:12` and a Debian 12 host both become `debian:12`; `Ubuntu:Pro:18.04:LTS` and an Ubuntu 18.04
host both become `ubuntu:18.04`; `PyPI` and a Python package both become `pypi`.
"""

from __future__ import annotations

import re

# OSV ecosystem (without release) → namespace prefix, for the distributions
DISTRO_ECOSYSTEMS = {
    "Debian": "debian",
    "Ubuntu": "ubuntu",
    "Alpine": "alpine",
    "AlmaLinux": "almalinux",
    "Rocky Linux": "rocky",
    "Red Hat": "rhel",
    "SUSE": "sles",
    "openSUSE": "opensuse-leap",
    "Amazon Linux": "amzn",
}
# OSV language ecosystem → namespace
LANGUAGE_ECOSYSTEMS = {
    "PyPI": "pypi",
    "npm": "npm",
    "Maven": "maven",
    "Go": "go",
    "crates.io": "crates.io",
    "RubyGems": "rubygems",
    "Packagist": "packagist",
    "NuGet": "nuget",
}
# inventory purl type → OSV language ecosystem
PURL_TYPE_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "maven": "Maven",
    "golang": "Go",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "composer": "Packagist",
    "nuget": "NuGet",
}
# inventory os-release ID → (namespace prefix, OSV ecosystem of its version scheme, release digits kept)
OS_NAMESPACES: dict[str, tuple[str, str, int]] = {
    "debian": ("debian", "Debian", 1),
    "ubuntu": ("ubuntu", "Ubuntu", 2),
    "alpine": ("alpine", "Alpine", 2),
    "almalinux": ("almalinux", "AlmaLinux", 1),
    "rocky": ("rocky", "Rocky Linux", 1),
    "rhel": ("rhel", "Red Hat", 1),
    "centos": ("rhel", "Red Hat", 1),  # CentOS Linux is matched with Red Hat's data
    "ol": ("ol", "Red Hat", 1),
    "fedora": ("fedora", "Red Hat", 1),
    "amzn": ("amzn", "Amazon Linux", 1),
    "sles": ("sles", "SUSE", 2),
    "opensuse-leap": ("opensuse-leap", "openSUSE", 2),
}
_SUSE_PRODUCT = re.compile(r"(\d+)(?:[ -]SP(\d+))?")


def release_key(version_id: str, parts: int) -> str:
    """`9.4` → `9`, `3.19.1` → `3.19`, `22.04` → `22.04`: releases as the advisories key them."""
    return ".".join(version_id.lstrip("v").split(".")[:parts])


def parse_osv_ecosystem(ecosystem: str) -> tuple[str, str, str | None]:
    """An OSV `ecosystem` string → (scheme ecosystem, namespace, channel).

    `Debian:12` → (Debian, debian:12, None); `Ubuntu:Pro:18.04:LTS` → (Ubuntu, ubuntu:18.04, pro);
    `Alpine:v3.19` → (Alpine, alpine:3.19, None); `PyPI` → (PyPI, pypi, None).
    """
    base, _, rest = ecosystem.partition(":")
    if base in LANGUAGE_ECOSYSTEMS:
        return base, LANGUAGE_ECOSYSTEMS[base], None
    prefix = DISTRO_ECOSYSTEMS.get(base)
    if prefix is None:
        raise ValueError(f"unknown OSV ecosystem {ecosystem!r}")
    parts = [p for p in rest.split(":") if p]
    channel = None
    if base == "Ubuntu":
        if parts and parts[0] == "Pro":
            channel, parts = "pro", parts[1:]
        parts = [p for p in parts if p not in ("LTS",)]
        if parts and parts[0] == "FIPS":
            channel, parts = "fips", parts[1:]
        release = parts[0] if parts else ""
    elif base == "Red Hat":
        # Red Hat:enterprise_linux:9::appstream → 9
        digits = next((re.match(r"\d+", p) for p in parts if re.match(r"\d+", p)), None)
        release = digits.group(0) if digits else ""
    elif base in ("SUSE", "openSUSE"):
        match = _SUSE_PRODUCT.search(rest)
        release = f"{match.group(1)}.{match.group(2) or 0}" if match else ""
    else:
        release = release_key(parts[0], 2 if base == "Alpine" else 1) if parts else ""
    namespace = f"{prefix}:{release}" if release else prefix
    return base, namespace, channel


_PEP503 = re.compile(r"[-_.]+")
_CASE_INSENSITIVE = frozenset({"npm", "nuget", "packagist", "crates.io"})


def package_key(namespace: str, package: str) -> str:
    """A package name as the database indexes it, so `Django`, `django` and `DJANGO` are one package.

    PyPI names compare after PEP 503 normalisation; npm, NuGet, Packagist and crates.io names without
    case; distribution, Go, Maven and RubyGems names exactly.
    """
    if namespace == "pypi":
        return _PEP503.sub("-", package).lower()
    if namespace in _CASE_INSENSITIVE:
        return package.lower()
    return package
