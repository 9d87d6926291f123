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
    "ol": ("ol", "Oracle Linux", 1),  # Oracle's own ELSA data (OVAL), compared as rpm versions
    "fedora": ("fedora", "Red Hat", 1),
    "amzn": ("amzn", "Amazon Linux", 1),
    "sles": ("sles", "SUSE", 2),
    "sled": ("sled", "SUSE", 2),
    "sle-micro": ("sle-micro", "SUSE", 2),
    "opensuse-leap": ("opensuse-leap", "openSUSE", 2),
    "opensuse-tumbleweed": ("opensuse-tumbleweed", "openSUSE", 0),
}
_SUSE_PRODUCT = re.compile(r"(\d+)(?:[ -]SP(\d+)|\.(\d+))?")
_UBUNTU_RELEASE = re.compile(r"^\d\d\.\d\d$")
# SUSE product names in OSV ecosystems → the os-release ID of the system they apply to
_SUSE_PRODUCTS = (("Linux Enterprise Micro", "sle-micro"), ("Linux Enterprise Desktop", "sled"))


def os_namespace(os_id: str, version_id: str | None) -> tuple[str, str] | None:
    """(namespace, scheme ecosystem) of an OS's packages: (`debian:12`, `Debian`); None if unknown."""
    if os_id not in OS_NAMESPACES:
        return None
    prefix, ecosystem, parts = OS_NAMESPACES[os_id]
    if parts == 0:
        return prefix, ecosystem  # rolling releases: one namespace
    if not version_id:
        return None
    if os_id == "amzn" and "." in version_id:
        return "amzn:1", ecosystem  # Amazon Linux 1 reports VERSION_ID 2018.03; its advisories say ALAS-1
    return f"{prefix}:{release_key(version_id, parts)}", ecosystem


def release_key(version_id: str, parts: int) -> str:
    """`9.4` → `9`, `3.19.1` → `3.19`, `22.04` → `22.04`: releases as the advisories key them."""
    return ".".join(version_id.lstrip("v").split(".")[:parts])


def parse_osv_ecosystem(ecosystem: str) -> tuple[str, str, str | None]:
    """An OSV `ecosystem` string → (scheme ecosystem, namespace, channel).

    `Debian:12` → (Debian, debian:12, None); `Ubuntu:Pro:18.04:LTS` → (Ubuntu, ubuntu:18.04, pro);
    `Ubuntu:Pro:FIPS-updates:18.04:LTS` → (…, ubuntu:18.04, fips-updates); `Alpine:v3.19` →
    (Alpine, alpine:3.19, None); `SUSE:Linux Enterprise Server 15 SP5` → (SUSE, sles:15.5, None);
    `openSUSE:Leap 15.5` → (openSUSE, opensuse-leap:15.5, None); `PyPI` → (PyPI, pypi, None).
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
        release = next((p for p in parts if _UBUNTU_RELEASE.match(p)), "")
        # everything else but LTS names a channel: Pro (ESM), FIPS-updates, Realtime kernels, vendor images
        extras = [p.lower() for p in parts if p != release and p != "LTS"]
        specific = [p for p in extras if p != "pro"]
        channel = "-".join(specific) if specific else ("pro" if extras else None)
    elif base == "Red Hat":
        # Red Hat:enterprise_linux:9::appstream → 9
        digits = next((re.match(r"\d+", p) for p in parts if re.match(r"\d+", p)), None)
        release = digits.group(0) if digits else ""
    elif base in ("SUSE", "openSUSE"):
        if "Tumbleweed" in rest:
            return base, "opensuse-tumbleweed", None
        prefix = next((os_id for name, os_id in _SUSE_PRODUCTS if name in rest), prefix)
        match = _SUSE_PRODUCT.search(rest)
        release = f"{match.group(1)}.{match.group(2) or match.group(3) or 0}" if match else ""
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


def oracle_build_channel(package: str, release: str) -> str | None:
    """The Oracle build flavour of an rpm: `ksplice`, `fips`, `uek`, or None for a normal build.

    `ksplice`: Ksplice userspace builds (`15.ksplice1.el8_3`); `fips`: FIPS builds (`4.0.1.el8_fips`);
    `uek`: a package built from the UEK kernel source under a name the Red Hat compatible kernel's build
    also has (`perf`, `python-perf` at `1902.6.6.el7uek`). `kernel-uek*` packages are UEK by name and
    need no flavour. The importer marks ELSA fixes with it; the matcher must compare an installed package
    only with the fixes of its own flavour, as the OVAL's "is ksplice-based" tests do.
    """
    lowered = release.lower()
    if lowered.endswith("_fips"):
        return "fips"
    if any(part.startswith("ksplice") for part in lowered.split(".")):
        return "ksplice"
    if lowered.endswith("uek") and not package.startswith("kernel-uek"):
        return "uek"
    return None
