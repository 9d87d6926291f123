"""dpkg: `/var/lib/dpkg/status` and the distroless `status.d/` files; installed packages only."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.model import Package
from vigil.inventory.purl import os_purl

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d"
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")
_EPOCH = re.compile(r"^(\d+):")


def parse_control(text: str) -> Iterator[dict[str, str]]:
    """Each stanza of a deb822 control file as a dict (continuation lines joined with newlines)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            fields[last] = value.strip()
    if fields:
        yield fields


def is_installed(stanza: dict[str, str], *, distroless: bool = False) -> bool:
    """Whether the package's files are on disk: the Status field's current state is `installed`.

    `deinstall ok installed` (marked for removal, not removed yet) is still installed, as `dpkg -l`
    shows it; `deinstall ok config-files` is not. Distroless `status.d` files carry no Status field:
    each file is one installed package; in the status database, a stanza without one is not installed.
    """
    status = stanza.get("Status")
    if status is None:
        return distroless
    return status.split()[-1:] == ["installed"]


class DpkgExtractor:
    """Debian and Ubuntu packages, with their source package name and version for matching."""

    name: ClassVar[str] = "os/dpkg"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(
        paths=frozenset({STATUS}), dirs=frozenset({STATUS_D}), expected=frozenset({(STATUS, "/var/lib/dpkg")})
    )

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        distroless = file.path.startswith(STATUS_D + "/")
        if distroless and file.path.endswith(".md5sums"):
            return []
        text = file.read_text()
        packages = []
        for stanza in parse_control(text):
            if not is_installed(stanza, distroless=distroless):
                continue
            name, version = stanza.get("Package"), stanza.get("Version")
            if not name or not version:
                ctx.error(file.path, f"stanza without Package or Version near {name or version!r}")
                continue
            packages.append(self._package(stanza, name, version, file.path, ctx))
        if not packages and text.strip() and not any(True for _ in parse_control(text)):
            raise ExtractError(f"{file.path}: not a dpkg status file")
        return packages

    def _package(
        self, stanza: dict[str, str], name: str, version: str, path: str, ctx: ExtractContext
    ) -> Package:
        source_name, source_version = name, version
        if match := _SOURCE.match(stanza.get("Source", "")):
            source_name = match["name"]
            source_version = match["version"] or version
        epoch_match = _EPOCH.match(version)
        arch = stanza.get("Architecture")
        return Package(
            name=name,
            version=version,
            type="deb",
            package_manager=PackageManager.OS,
            purl=os_purl("deb", ctx.os, name, version, arch=arch, source=source_name),
            extractor=self.name,
            epoch=int(epoch_match.group(1)) if epoch_match else None,
            arch=arch,
            source_name=source_name,
            source_version=source_version,
            locations=(path,),
        )
