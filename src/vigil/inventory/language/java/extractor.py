"""The Java archive extractor: Maven artifacts in an archive and in the archives nested inside it."""

from __future__ import annotations

import io
import posixpath
import zipfile
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
        with open_archive(f, where) as archive:
            found = self._identify(archive, where, budget, ctx)
            if not found:
                named = from_file_name(posixpath.basename(inner[-1] if inner else outer))
                found = [named] if named else []
            location = (outer,) if not inner else (outer, where)
            packages = [_package(c, location, self.name) for c in found]
            for info in archive.infolist():
                if info.is_dir() or not info.filename.lower().endswith(ARCHIVE_SUFFIXES):
                    continue
                nested = f"{where}!/{info.filename}"
                if depth + 1 > MAX_DEPTH:
                    ctx.error(outer, f"{nested}: nested more than {MAX_DEPTH} archives deep; not read")
                    continue
                try:
                    data = read_member(archive, info, MAX_NESTED, budget, where)
                    packages += self._archive(
                        io.BytesIO(data), nested, outer, (*inner, info.filename), depth + 1, budget, ctx
                    )
                except ArchiveBomb:
                    raise
                except ExtractError as exc:
                    ctx.error(outer, str(exc))
            return packages

    def _identify(
        self, archive: zipfile.ZipFile, where: str, budget: InflateBudget, ctx: ExtractContext
    ) -> list[Coordinates]:
        """Every pom.properties' artifact (a shaded jar holds several); else the manifest's."""
        found: list[Coordinates] = []
        manifest = None
        for info in archive.infolist():
            base = posixpath.basename(info.filename)
            if base == "pom.properties" and not info.is_dir():
                text = read_member(archive, info, MAX_METADATA, budget, where).decode("utf-8", "replace")
                coordinates = from_pom_properties(text)
                if coordinates is None:
                    ctx.error(where, f"{info.filename}: no groupId, artifactId or version; ignored")
                elif coordinates not in found:
                    found.append(coordinates)
            elif info.filename.upper() == "META-INF/MANIFEST.MF":
                manifest = info
        if not found and manifest is not None:
            text = read_member(archive, manifest, MAX_METADATA, budget, where).decode("utf-8", "replace")
            described = from_manifest(text)
            if described is not None:
                found.append(described)
        return found


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
