"""rpm: installed packages from the rpm database (BerkeleyDB, ndb or SQLite), without the rpm tool."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.model import Package
from vigil.inventory.os.rpm.database import read_database
from vigil.inventory.os.rpm.header import HeaderError, RpmHeader, parse_header
from vigil.inventory.os.rpm.records import MAX_DATABASE_SIZE, Record, RpmdbError
from vigil.inventory.purl import os_purl

# rpm < 4.16 keeps `Packages` (BerkeleyDB) in /var/lib/rpm; SUSE's `Packages.db` (ndb) and rpm 4.16+'s
# `rpmdb.sqlite` live in /usr/lib/sysimage/rpm, with /var/lib/rpm often a symlink to it.
DATABASE_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
DATABASE_NAMES = ("Packages", "Packages.db", "rpmdb.sqlite")
DATABASE_PATHS = frozenset(f"{d}/{n}" for d in DATABASE_DIRS for n in DATABASE_NAMES)


def split_source_rpm(source_rpm: str) -> tuple[str, str] | None:
    """`openssl-3.0.7-27.el9.src.rpm` → (`openssl`, `3.0.7-27.el9`); None when it is not N-V-R."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if source_rpm.endswith(suffix):
            source_rpm = source_rpm[: -len(suffix)]
            break
    parts = source_rpm.rsplit("-", 2)  # names contain dashes, versions and releases do not
    if len(parts) != 3 or not all(parts):
        return None
    name, version, release = parts
    return name, f"{version}-{release}"


def _guarded(records: Iterator[Record], errors: list[str]) -> Iterator[Record]:
    """The readable records; the others, and a reader giving up midway, become `errors`."""
    try:
        for record in records:
            if record.error is None:
                yield record
            else:
                errors.append(f"{record.where}: {record.error}")
    except RpmdbError as exc:
        errors.append(f"database reading stopped: {exc}")


class RpmExtractor:
    """Red Hat, Amazon Linux, SUSE, Fedora… packages, with their source rpm for matching."""

    name: ClassVar[str] = "os/rpm"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(paths=DATABASE_PATHS)

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        """Every package but the gpg-pubkey pseudo-packages; a damaged record is an error, not the end."""
        packages: list[Package] = []
        errors: list[str] = []
        readable = 0
        try:
            records = read_database(file.read(limit=MAX_DATABASE_SIZE))
        except RpmdbError as exc:
            raise ExtractError(f"{file.path}: {exc}") from exc
        for record in _guarded(records, errors):
            try:
                header = parse_header(record.blob)
            except HeaderError as exc:
                errors.append(f"{record.where}: {exc}")
                continue
            readable += 1
            if header.is_pubkey:
                continue
            package = self._package(header, file.path, ctx)
            ctx.own_files(package, header.files)
            packages.append(package)
        if errors and not readable:
            raise ExtractError(f"{file.path}: no readable package header ({len(errors)} errors): {errors[0]}")
        for error in errors:
            ctx.error(file.path, error)
        return packages

    def _package(self, header: RpmHeader, path: str, ctx: ExtractContext) -> Package:
        source = split_source_rpm(header.source_rpm) if header.source_rpm else None
        source_name, source_version = source if source else (None, None)
        return Package(
            name=header.name,
            version=header.version,
            type="rpm",
            package_manager=PackageManager.OS,
            purl=os_purl(
                "rpm",
                ctx.os,
                header.name,
                f"{header.version}-{header.release}",
                arch=header.arch,
                epoch=header.epoch,
                source=source_name,
            ),
            extractor=self.name,
            epoch=header.epoch,
            release=header.release,
            arch=header.arch,
            source_name=source_name,
            source_version=source_version,
            locations=(path,),
        )
