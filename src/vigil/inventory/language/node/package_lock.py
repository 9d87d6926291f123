"""npm lock files, reporting what is installed: an entry counts when its package is on disk.

A lock file says what `npm install` would put in `node_modules`; the target may hold it without the
tree (a source checkout), with part of it (`--omit=dev`, optional packages for another platform), or with
all of it. An entry is reported when `<lock file's directory>/<install path>/package.json` exists in the
target, so dev and optional packages count exactly when installed. The lock file's version is trusted
(npm rewrites the lock file on every install); only an entry without one (v1 `file:` and git specs, a v2
git package without a version) takes the installed package.json's version, with a note.

Not reported: the root entry `""`; local folders (workspaces, `file:` folder dependencies: the project's
own code, which no advisory names) and the `link: true` symlinks to them — the packages installed in a
local folder's own `node_modules` are reported. A `package-lock.json` next to an `npm-shrinkwrap.json` is
skipped: npm ignores it then. A package from git or a local file is reported with a note saying so.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.fs import FileSystem, FSError, normalize, read_bytes
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.node.lockfile import LockEntry, LockfileError, parse_lockfile
from vigil.inventory.language.node.manifest import (
    MAX_MANIFEST,
    npm_package,
    parse_json,
    source_notes,
    valid_version,
)
from vigil.inventory.model import Package

PACKAGE_LOCK = "package-lock.json"
SHRINKWRAP = "npm-shrinkwrap.json"
MAX_LOCKFILE = 32 << 20  # a large monorepo's lock file is a few MiB
VERSION_FROM_DISK = "version from the installed package.json (the lock file names none)"


class InstalledTree:
    """Which install paths below one directory hold a package: a few lookups, remembered per directory."""

    def __init__(self, fs: FileSystem, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        self._dirs: dict[str, bool] = {self.root: True}

    def manifest(self, relative: str) -> str | None:
        """The package.json of the package installed at `relative` (a checked relative path), or None."""
        path = normalize(f"{self.root}/{relative}")
        if not path.startswith(self.root.rstrip("/") + "/"):
            return None  # never outside the lock file's directory, whatever the caller passed
        if not self._is_dir(posixpath.dirname(path)):
            return None
        manifest = f"{path}/package.json"
        try:
            info = self.fs.stat(manifest)
        except FSError:
            return None
        return manifest if info.is_file or info.is_symlink else None

    def _is_dir(self, path: str) -> bool:
        known = self._dirs.get(path)
        if known is None:
            known = self._is_dir(posixpath.dirname(path)) and self._lookup_dir(path)
            self._dirs[path] = known
        return known

    def _lookup_dir(self, path: str) -> bool:
        try:
            return self.fs.stat(self.fs.resolve(path)).is_dir
        except FSError:
            return False


class NpmLockfileExtractor:
    name: ClassVar[str] = "language/node/package-lock"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({PACKAGE_LOCK, SHRINKWRAP}))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        directory = posixpath.dirname(file.path)
        if file.info.name == PACKAGE_LOCK and _exists(file.fs, posixpath.join(directory, SHRINKWRAP)):
            return []
        data = parse_json(file.read(MAX_LOCKFILE), file.path)
        try:
            entries, problems = parse_lockfile(data)
        except LockfileError as exc:
            raise ExtractError(f"{file.path}: {exc}") from exc
        for problem in problems:
            ctx.error(file.path, problem)
        tree = InstalledTree(file.fs, directory)
        packages: dict[str, Package] = {}
        for entry in entries:
            if entry.local or entry.link:
                continue
            manifest = tree.manifest(entry.path)
            if manifest is None:
                continue
            package = self._package(entry, manifest, file, ctx)
            if package is not None:
                packages.setdefault(package.purl, package)
        return list(packages.values())

    def _package(
        self, entry: LockEntry, manifest: str, file: FoundFile, ctx: ExtractContext
    ) -> Package | None:
        version, notes = entry.version, source_notes(entry.source)
        if not version:
            version = _installed_version(file.fs, manifest, ctx)
            notes = (*notes, VERSION_FROM_DISK)
        if not version:
            return None
        if not valid_version(version):
            ctx.error(file.path, f"entry {entry.path!r}: version {version[:80]!r} is not a version; skipped")
            return None
        return npm_package(
            entry.name,
            version,
            package_manager=PackageManager.NPM,
            extractor=self.name,
            location=file.path,
            notes=notes,
        )


def _installed_version(fs: FileSystem, manifest: str, ctx: ExtractContext) -> str:
    try:
        data = parse_json(read_bytes(fs, manifest, MAX_MANIFEST), manifest)
    except (FSError, ExtractError) as exc:
        ctx.error(manifest, str(exc))
        return ""
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else ""


def _exists(fs: FileSystem, path: str) -> bool:
    try:
        fs.stat(path)
    except FSError:
        return False
    return True
