"""The Java archive extractor: Maven artifacts in an archive and in the archives nested inside it."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import IO, ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.java import zipread
from vigil.inventory.language.java.identify import (
    Coordinates,
    Described,
    describe_manifest,
    from_file_name,
    from_pom_properties,
    name_stem,
)
from vigil.inventory.language.java.zipread import (
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
FILE_NAME_NOTE = "version from the file name: the archive's pom.properties and MANIFEST.MF do not name it"


class JavaArchiveExtractor:
    """Maven artifacts in Java archives (JAR)."""

    name: ClassVar[str] = "language/java/archive"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=ARCHIVE_SUFFIXES)

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        """An archive's packages; a bomb found inside it stops the archive but keeps what was found."""
        found: list[Package] = []
        with file.open() as f:
            try:
                self._archive(f, file.path, file.path, "", 0, InflateBudget(), ctx, found)
            except ArchiveBomb as exc:
                ctx.error(file.path, f"{exc}; {len(found)} packages found before it are kept")
        return found

    def _archive(
        self,
        f: IO[bytes],
        where: str,
        outer: str,
        member: str,
        depth: int,
        budget: InflateBudget,
        ctx: ExtractContext,
        found: list[Package],
    ) -> None:
        """Add the packages of one archive (`where`: `outer!/member!/…`; `member`: its name in its parent).

        Every package's first location is the outer archive's real path: the file an OS package installed.
        """
        archive = open_archive(f, where, _wanted, _WANTED_HINT)
        location = (outer,) if not member else (outer, where)
        file_name = (member or outer).rsplit("/", 1)[-1]
        found.extend(
            _package(c, location, self.name) for c in self._identify(archive, file_name, budget, ctx, outer)
        )
        for entry in archive.entries:
            if not entry.name.lower().endswith(ARCHIVE_SUFFIXES):
                continue
            nested = f"{where}!/{entry.name}"
            if depth + 1 > MAX_DEPTH:
                ctx.error(outer, f"{nested}: nested more than {MAX_DEPTH} archives deep; not read")
                continue
            try:
                data = read_member(archive, entry, zipread.MAX_NESTED, budget)
                self._archive(io.BytesIO(data), nested, outer, entry.name, depth + 1, budget, ctx, found)
            except ArchiveBomb:
                raise
            except ExtractError as exc:
                ctx.error(outer, str(exc))

    def _identify(
        self, archive: Archive, file_name: str, budget: InflateBudget, ctx: ExtractContext, outer: str
    ) -> list[Coordinates]:
        """Every pom.properties' artifact (a shaded jar holds several), else the manifest's or name's."""
        found: list[Coordinates] = []
        manifest = None
        for entry in archive.entries:
            if entry.name.endswith("pom.properties") and _base(entry.name) == "pom.properties":
                text = read_member(archive, entry, zipread.MAX_METADATA, budget).decode("utf-8", "replace")
                coordinates = from_pom_properties(text)
                if coordinates is None:
                    ctx.error(
                        outer, f"{archive.where}!/{entry.name}: no groupId, artifactId or version; ignored"
                    )
                elif coordinates not in found:
                    found.append(coordinates)
            elif entry.name.upper() == "META-INF/MANIFEST.MF":
                manifest = entry
        stem = name_stem(file_name)
        if found and (manifest is None or any(c.artifact == stem for c in found)):
            return found
        described = None
        if manifest is not None:
            text = read_member(archive, manifest, zipread.MAX_METADATA, budget).decode("utf-8", "replace")
            described = describe_manifest(text)
        return _with_manifest(found, described, file_name, stem)


def _with_manifest(
    found: list[Coordinates], described: Described | None, file_name: str, stem: str
) -> list[Coordinates]:
    """The pom.properties' artifacts, the manifest's, or the file name's (in the manifest's group if any).

    A jar that shades other artifacts without a pom.properties of its own (Debian's guice.jar holds only
    cglib's) is also the manifest's artifact, when that is the one its file name says and it shares
    neither group nor version with the shaded ones (jetty's start.jar holds its own pom.properties, as
    jetty-start, and a manifest calling it start: one artifact named twice).
    """
    own = described.coordinates() if described is not None else None
    if found:
        if own is not None and own.artifact == stem and all(_apart(c, own) for c in found):
            return [*found, own]
        return found
    if own is not None:
        return [own]
    named = from_file_name(file_name, described)
    return [named] if named else []


def _apart(a: Coordinates, b: Coordinates) -> bool:
    return a.group != b.group and a.version != b.version


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
    return Package(
        name=f"{c.group}:{c.artifact}",
        version=c.version,
        type="maven",
        package_manager=PackageManager.JAR,
        purl=language_purl("maven", c.artifact, c.version, c.group),
        extractor=extractor,
        locations=locations,
        notes=(FILE_NAME_NOTE,) if c.source == "file name" else (),
    )
