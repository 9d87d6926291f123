"""The operating system releases Vigil supports (DESIGN §3.7), in the namespace spelling the matcher and
`vigil db status` use, and which of them the advisory database covers: a release no advisory covers
would give a silent "0 vulnerabilities", so `vigil db status` lists them and `vigil scan` warns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.advisories.namespaces import DISTRO_ECOSYSTEMS, LANGUAGE_ECOSYSTEMS


@dataclass(frozen=True, slots=True)
class Release:
    namespace: str  # `debian:12`, as `os_namespace` spells a host's
    name: str


SUPPORTED_RELEASES: tuple[Release, ...] = (
    Release("amzn:2", "Amazon Linux 2"),
    Release("amzn:2023", "Amazon Linux 2023"),
    *(Release(f"almalinux:{r}", f"AlmaLinux {r}") for r in (8, 9, 10)),
    *(Release(f"rocky:{r}", f"Rocky Linux {r}") for r in (8, 9, 10)),
    Release("rhel:7", "CentOS 7 (discontinued; Red Hat's data)"),
    *(Release(f"rhel:{r}", f"Red Hat Enterprise Linux {r}") for r in (8, 9, 10)),
    *(Release(f"ol:{r}", f"Oracle Linux {r}") for r in (8, 9, 10)),
    *(Release(f"fedora:{r}", f"Fedora {r}") for r in (42, 43)),
    *(Release(f"debian:{r}", f"Debian {r}") for r in (11, 12, 13)),
    *(Release(f"ubuntu:{r}", f"Ubuntu {r} LTS") for r in ("18.04", "20.04", "22.04", "24.04")),
    *(Release(f"sles:{r}", f"SUSE Linux Enterprise Server {r}") for r in ("15.5", "15.6", "15.7")),
    *(Release(f"opensuse-leap:{r}", f"openSUSE Leap {r}") for r in ("15.5", "15.6")),
    *(Release(f"alpine:{r}", f"Alpine Linux {r}") for r in ("3.18", "3.19", "3.20", "3.21", "3.22")),
)
_NAMES = {r.namespace: r.name for r in SUPPORTED_RELEASES}


def release_name(namespace: str) -> str:
    return _NAMES.get(namespace, namespace)


def releases_of(ecosystem: str) -> tuple[str, ...]:
    """The supported releases (or the language namespace) an OSV ecosystem's advisories cover."""
    if ecosystem in LANGUAGE_ECOSYSTEMS:
        return (LANGUAGE_ECOSYSTEMS[ecosystem],)
    prefix = DISTRO_ECOSYSTEMS.get(ecosystem)
    if prefix is None:
        return ()
    return tuple(r.namespace for r in SUPPORTED_RELEASES if r.namespace.split(":")[0] == prefix)


def release_coverage(entries: Mapping[str, int]) -> list[dict[str, Any]]:
    """Per supported release, whether any advisory covers it (`entries`: affected entries per namespace)."""
    return [
        {"namespace": r.namespace, "name": r.name, "covered": entries.get(r.namespace, 0) > 0,
         "entries": entries.get(r.namespace, 0)}
        for r in SUPPORTED_RELEASES
    ]  # fmt: skip
