"""apk: Alpine's `/lib/apk/db/installed`, with the origin (aport) name that Alpine's advisories use."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.model import Package
from vigil.inventory.purl import os_purl

INSTALLED = "/lib/apk/db/installed"


def parse_installed(text: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """Each package record (single-letter fields) and the files it owns (F: directory, R: file)."""
    fields: dict[str, str] = {}
    files: list[str] = []
    directory = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields, files
            fields, files, directory = {}, [], ""
            continue
        key, sep, value = line.partition(":")
        if not sep or len(key) != 1:
            continue
        if key == "F":
            directory = value
        elif key == "R":
            files.append(f"/{directory}/{value}" if directory else f"/{value}")
        elif key not in fields:
            fields[key] = value
    if fields:
        yield fields, files


class ApkExtractor:
    name: ClassVar[str] = "os/apk"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(
        paths=frozenset({INSTALLED}), expected=frozenset({(INSTALLED, "/lib/apk/db")})
    )

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        text = file.read_text()
        packages = []
        for fields, files in parse_installed(text):
            name, version = fields.get("P"), fields.get("V")
            if not name or not version:
                ctx.error(file.path, f"record without P: or V: near {name or version!r}")
                continue
            origin = fields.get("o") or name
            arch = fields.get("A")
            package = Package(
                name=name,
                version=version,
                type="apk",
                package_manager=PackageManager.OS,
                purl=os_purl("apk", ctx.os, name, version, arch=arch, source=origin),
                extractor=self.name,
                arch=arch,
                source_name=origin,
                source_version=version,
                locations=(file.path,),
            )
            ctx.own_files(package, files)
            packages.append(package)
        if not packages and text.strip():
            raise ExtractError(f"{file.path}: no package records (not an apk database?)")
        return packages
