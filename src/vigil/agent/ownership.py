"""Which package owns a listener's executable: an OS package whose file list names it, else the language
package the inventory's binary extractor finds in it (a Go program's main module).

The inventory's own code answers both: the OS extractors (dpkg's status and `info/*.list`, rpm's database,
apk's installed db) report the files each package installed through `ExtractContext.own_files`, and the
collector's `_owner_of` looks a path up under its merged-/usr aliases (`/usr/bin/dash` is `/bin/dash` in
dash's list). Reading every file list costs a tenth of a second on a Debian host, so answers are kept per
executable, keyed by its identity (device, inode, size, mtime) and the package databases' (a package
upgrade changes both), and only the executables asked about are looked up.

An interpreter's process (a Python console script, a Node server) is owned by its interpreter's package:
that is what the file lists say, and no guess is made past them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from vigil.enums import PackageManager
from vigil.fs import FileInfo, FileSystem, FSError, LiveFS
from vigil.inventory.extractor import Extractor
from vigil.inventory.model import OSInfo, Package

log = logging.getLogger("vigil.agent")

MAX_CACHED = 1024  # executables remembered; a host with more distinct listening programs is unusual
Stamp = tuple[int, int, int, int] | None  # device, inode, size, mtime (ns); None: absent


@dataclass(frozen=True, slots=True)
class OwningPackage:
    """The package that installed an executable, as the heartbeat names it."""

    name: str
    version: str
    purl: str
    package_manager: str

    @classmethod
    def of(cls, package: Package) -> OwningPackage:
        return cls(package.name, package.version, package.purl, str(package.package_manager))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "purl": self.purl,
            "packageManager": self.package_manager,
        }


def _os_extractors() -> tuple[Extractor, ...]:
    from vigil.inventory.os.dpkg_files import DpkgFileListExtractor
    from vigil.inventory.registry import OS_EXTRACTORS

    return (*OS_EXTRACTORS, DpkgFileListExtractor())


class PackageOwners:
    """The owners of executables of `root` (`/` is this host), remembered across calls."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)
        self.lookups = 0  # package database reads (each reads every file list): what the cache saves
        self._extractors = _os_extractors()
        self._databases = sorted({p for e in self._extractors for p in (*e.wants.paths, *e.wants.dirs)})
        self._known: dict[str, tuple[Stamp, tuple[Stamp, ...], OwningPackage | None]] = {}

    def owners(self, executables: Collection[str]) -> dict[str, OwningPackage | None]:
        """Each executable's owning package (None: no package owns it, or it is not a file of `root`)."""
        databases = tuple(self._stamp(path) for path in self._databases)
        stamps = {exe: self._stamp(exe) for exe in executables}
        found: dict[str, OwningPackage | None] = {}
        missing = []
        for exe, stamp in stamps.items():
            known = self._known.get(exe)
            if known is not None and known[0] == stamp and known[1] == databases:
                found[exe] = known[2]
            else:
                missing.append(exe)
        if missing:
            resolved = self._resolve([exe for exe in missing if stamps[exe] is not None])
            if len(self._known) + len(missing) > MAX_CACHED:
                self._known.clear()
            for exe in missing:
                found[exe] = resolved.get(exe)
                self._known[exe] = (stamps[exe], databases, found[exe])
        return found

    def _stamp(self, path: str) -> Stamp:
        try:
            st = os.stat(os.path.join(self.root, path.lstrip("/")))
        except (OSError, ValueError):
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def _resolve(self, executables: list[str]) -> dict[str, OwningPackage]:
        if not executables:
            return {}
        self.lookups += 1
        fs = LiveFS(self.root)
        try:
            owners = os_owners(fs, executables, self._extractors)
            for exe in executables:
                if exe not in owners and (package := binary_owner(fs, exe)) is not None:
                    owners[exe] = package
            return owners
        finally:
            fs.close()


def os_owners(
    fs: FileSystem, paths: Iterable[str], extractors: tuple[Extractor, ...] | None = None
) -> dict[str, OwningPackage]:
    """The OS package that installed each path (paths no package lists are left out)."""
    from vigil.inventory.collect import _owner_of, _top_level_aliases
    from vigil.inventory.os.release import detect_os

    wanted = list(paths)
    aliases = _top_level_aliases(fs)
    names = set(wanted)
    for path in wanted:
        names.update(alias + path[len(real) :] for real, alias in aliases if path.startswith(real))
    owned: dict[str, str] = {}
    packages: dict[str, Package] = {}
    for extraction in _extractions(fs, extractors or _os_extractors(), detect_os(fs)):
        for package in extraction.packages:
            packages.setdefault(package.name, package)
        for owner, files in extraction.owned:
            owned.update((f, owner) for f in files if f in names)
    result = {}
    for path in wanted:
        owner = _owner_of(path, owned, aliases)
        if owner is not None and owner in packages:
            result[path] = OwningPackage.of(packages[owner])
    return result


def _extractions(fs: FileSystem, extractors: tuple[Extractor, ...], os_info: OSInfo | None) -> Iterable[Any]:
    """What each extractor makes of the exact files and directory children it wants (no walk)."""
    from vigil.inventory.dispatch import extract

    for i, extractor in enumerate(extractors):
        for info in _wanted_files(fs, extractor):
            extraction = extract(fs, extractors, i, info, os_info, 0)
            for error in extraction.errors:
                log.debug("package owners: %s: %s", error.path, error.error)
            yield extraction


def _wanted_files(fs: FileSystem, extractor: Extractor) -> Iterable[FileInfo]:
    for path in sorted(extractor.wants.paths):
        try:
            info = fs.stat(fs.resolve(path))
        except FSError:
            continue  # absent: the common case (an rpm path on a Debian host)
        if info.is_file:
            yield info
    for directory in sorted(extractor.wants.dirs):
        try:
            children = sorted(fs.list_dir(directory), key=lambda i: i.path)
        except FSError:
            continue
        yield from (child for child in children if child.is_file)


def binary_owner(fs: FileSystem, path: str) -> OwningPackage | None:
    """A Go program's main module, as the inventory's binary extractor reads it (None: not a Go program
    built in module mode: its dependencies and toolchain do not own it)."""
    from vigil.inventory.language.elf import ElfFile
    from vigil.inventory.language.golang import go_packages, read_build_info

    try:
        with fs.open(path) as f:
            elf = ElfFile.parse(f)
            info = read_build_info(elf) if elf is not None else None
    except (FSError, ValueError) as error:
        log.debug("package owners: %s: %s", path, error)
        return None
    if info is None or info.main is None or not info.main.path:
        return None
    main = next((p for p in go_packages(info, path, "language/binary") if p.name == info.main.path), None)
    if main is None or main.package_manager is not PackageManager.GOBINARY:
        return None
    return OwningPackage.of(main)
