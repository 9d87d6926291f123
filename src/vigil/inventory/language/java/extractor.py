"""The Java archive extractor: Maven artifacts in an archive and in the archives nested inside it."""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable
from typing import IO, ClassVar

from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.java.identify import (
    Coordinates,
    from_file_name,
    from_manifest,
    from_pom_properties,
)
from vigil.inventory.language.java.zipread import (
    MAX_METADATA,
    MAX_NESTED,
    Archive,
    ArchiveBomb,
    InflateBudget,
    open_archive,
    read_member,
)
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par")
MAX_DEPTH = 3  # an ear holding a war holding jars; deeper nesting is reported, not opened


class JavaArchiveExtractor:
    """Maven artifacts in Java archives (JAR)."""

    name: ClassVar[str] = "language/java/archive"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=ARCHIVE_SUFFIXES)

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        with file.open() as f:
            return self._archive(f, file.path, file.path, (), 0, InflateBudget(), ctx)

    def _archive(
        self,
        f: IO[bytes],
        where: str,
        outer: str,
        inner: tuple[str, ...],
        depth: int,
        budget: InflateBudget,
        ctx: ExtractContext,
    ) -> list[Package]:
        """The packages of one archive (`inner`: the member path of each nesting level, outermost first)."""
        archive = open_archive(f, where, _wanted, _WANTED_HINT)
        found = self._identify(archive, budget, ctx)
        if not found:
            named = from_file_name(posixpath.basename(inner[-1] if inner else outer))
            found = [named] if named else []
        location = (outer,) if not inner else (outer, where)
        packages = [_package(c, location, self.name) for c in found]
        for entry in archive.entries:
            if not entry.name.lower().endswith(ARCHIVE_SUFFIXES):
                continue
            nested = f"{where}!/{entry.name}"
            if depth + 1 > MAX_DEPTH:
                ctx.error(outer, f"{nested}: nested more than {MAX_DEPTH} archives deep; not read")
                continue
            try:
                data = read_member(archive, entry, MAX_NESTED, budget)
                packages += self._archive(
                    io.BytesIO(data), nested, outer, (*inner, entry.name), depth + 1, budget, ctx
                )
            except ArchiveBomb:
                raise
            except ExtractError as exc:
                ctx.error(outer, str(exc))
        return packages

    def _identify(self, archive: Archive, budget: InflateBudget, ctx: ExtractContext) -> list[Coordinates]:
        """Every pom.properties' artifact (a shaded jar holds several); else the manifest's."""
        found: list[Coordinates] = []
        manifest = None
        for entry in archive.entries:
            if entry.name.endswith("pom.properties") and _base(entry.name) == "pom.properties":
                text = read_member(archive, entry, MAX_METADATA, budget).decode("utf-8", "replace")
                coordinates = from_pom_properties(text)
                if coordinates is None:
                    ctx.error(archive.where, f"{entry.name}: no groupId, artifactId or version; ignored")
                elif coordinates not in found:
                    found.append(coordinates)
            elif entry.name.upper() == "META-INF/MANIFEST.MF":
                manifest = entry
        if not found and manifest is not None:
            text = read_member(archive, manifest, MAX_METADATA, budget).decode("utf-8", "replace")
            described = from_manifest(text)
            if described is not None:
                found.append(described)
        return found


def _base(name: str) -> str:
    return name[name.rfind("/") + 1 :]


_WANTED_HINT = (b"pom.properties", b"manifest.mf", b".jar", b".war", b".ear", b".par")


def _wanted(name: str) -> bool:
    """The members identification and nesting need: nothing else is ever read or even kept."""
    return (
        (name.endswith("pom.properties") and _base(name) == "pom.properties")
        or (len(name) == 20 and name.upper() == "META-INF/MANIFEST.MF")
        or name.lower().endswith(ARCHIVE_SUFFIXES)
    )


def _package(c: Coordinates, locations: tuple[str, ...], extractor: str) -> Package:
    notes = (
        ("version from the file name: the archive holds no Maven metadata",)
        if c.source == "file name"
        else ()
    )
    return Package(
        name=f"{c.group}:{c.artifact}",
        version=c.version,
        type="maven",
        package_manager="JAR",
        purl=language_purl("maven", c.artifact, c.version, c.group),
        extractor=extractor,
        locations=locations,
        notes=notes,
    )
