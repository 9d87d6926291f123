"""One collection: index every extractor's wants, read exact paths, walk at most once, dispatch each file.

STYLE habit 1: extractors never walk. Exact paths and directory children are read without a walk;
names, suffixes and executables are matched during a single walk of the scope in O(1) per file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from vigil.fs import FileInfo, FileSystem, FileType, FSError, ScanTimeout
from vigil.fs.hostfile import describe
from vigil.inventory.extractor import Extractor, FoundFile
from vigil.inventory.kernel import detect_kernel
from vigil.inventory.model import (
    ExtractorRun,
    FileError,
    Inventory,
    LimitHit,
    OSInfo,
    Package,
    Stats,
    Target,
)
from vigil.inventory.os.release import detect_os

CONTAINER_RUNTIME_DIRS = frozenset({"/var/lib/docker", "/var/lib/containerd", "/var/lib/containers"})
DEFAULT_LANGUAGE_PATHS = ("/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/local/lib64")
MAX_CUSTOM_PATHS = 10
MAX_CUSTOM_PATH_LENGTH = 256
_CHECK_EVERY = 512  # walk entries between time-limit checks


@dataclass(frozen=True, slots=True)
class PathScope:
    """Where the walk goes: its roots, and what it never enters."""

    name: str  # "default" | "all"
    roots: tuple[str, ...]
    excluded: frozenset[str] = CONTAINER_RUNTIME_DIRS

    @classmethod
    def default(cls, custom_paths: Sequence[str] = (), excluded: Iterable[str] = ()) -> PathScope:
        """Inspector's deep-inspection scope: the four default paths plus up to 10 custom ones."""
        for path in custom_paths:
            if not path.startswith("/") or len(path) > MAX_CUSTOM_PATH_LENGTH:
                raise ValueError(f"custom path {path!r}: must be absolute and at most 256 characters")
        if len(custom_paths) > MAX_CUSTOM_PATHS:
            raise ValueError(f"at most {MAX_CUSTOM_PATHS} custom paths (5 per account, 5 per organization)")
        return cls(
            "default", (*DEFAULT_LANGUAGE_PATHS, *custom_paths), CONTAINER_RUNTIME_DIRS | set(excluded)
        )

    @classmethod
    def all(cls, excluded: Iterable[str] = ()) -> PathScope:
        """The whole filesystem (agentless scans)."""
        return cls("all", ("/",), CONTAINER_RUNTIME_DIRS | set(excluded))


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-collection limits (Inspector's): past one, what was collected is kept and the limit named."""

    max_language_packages: int = 5000
    collection_seconds: float = 15 * 60


Progress = Callable[[int, int], None]  # (files seen, packages found)


_NOTHING: tuple[int, ...] = ()


@dataclass
class _Dispatch:
    """Every extractor's wants, indexed so that one file finds its extractors in O(1)."""

    paths: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    dirs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    names: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_extension: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    by_tail: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    executables: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, extractors: Sequence[Extractor]) -> _Dispatch:
        index = cls()
        for i, extractor in enumerate(extractors):
            wants = extractor.wants
            for path in wants.paths:
                index.paths[path].append(i)
            for directory in wants.dirs:
                index.dirs[directory].append(i)
            for name in wants.names:
                index.names[name].append(i)
            for suffix in wants.suffixes:
                if "/" in suffix:
                    index.by_tail[suffix.rsplit("/", 1)[1]].append((suffix, i))
                else:
                    index.by_extension[suffix.rsplit(".", 1)[-1].lower()].append((suffix.lower(), i))
            if wants.executables:
                index.executables.append(i)
        return index

    def for_walked_file(self, info: FileInfo) -> Sequence[int]:
        """The extractors wanting one regular file the walk found (called for every file: kept lean)."""
        path = info.path
        name = path[path.rfind("/") + 1 :]
        dot = name.rfind(".")
        if (
            name not in self.names
            and name not in self.by_tail
            and (dot < 0 or name[dot + 1 :].lower() not in self.by_extension)
            and not (self.executables and info.mode & 0o111)
        ):
            return _NOTHING  # most files: one set of lookups, no list built
        named = self.names.get(name)
        found = list(named) if named else []
        tails = self.by_tail.get(name)
        if tails:
            found.extend(i for suffix, i in tails if path.endswith(suffix))
        dot = name.rfind(".")
        if dot >= 0:
            by_extension = self.by_extension.get(name[dot + 1 :].lower())
            if by_extension:
                lowered = name.lower()
                found.extend(i for suffix, i in by_extension if lowered.endswith(suffix))
        if self.executables and info.mode & 0o111:
            found.extend(self.executables)
        return found


@dataclass
class _RunLog:
    """An extractor's run while the collection goes on; frozen into an `ExtractorRun` at the end."""

    name: str
    version: int
    files_read: list[str] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    packages: int = 0

    def frozen(self) -> ExtractorRun:
        return ExtractorRun(
            self.name, self.version, self.packages, tuple(self.files_read), tuple(self.errors)
        )


@dataclass
class _Counters:
    files_seen: int = 0
    walked: bool = False


class _Context:
    """The `ExtractContext` extractors see while one of them handles one file."""

    def __init__(self, os_info: OSInfo | None) -> None:
        self._os = os_info
        self.owned: dict[str, str] = {}
        self.run: _RunLog | None = None

    @property
    def os(self) -> OSInfo | None:
        return self._os

    def own_files(self, owner: Package | str, paths: Iterable[str]) -> None:
        name = owner if isinstance(owner, str) else owner.name
        for path in paths:
            self.owned[path] = name

    def error(self, path: str, message: str) -> None:
        if self.run is not None:
            self.run.errors.append(FileError(path, message))


class Collector:
    """Runs extractors over one filesystem view and assembles the `Inventory`."""

    def __init__(
        self,
        fs: FileSystem,
        extractors: Sequence[Extractor],
        *,
        scope: PathScope,
        limits: Limits = Limits(),
        running_kernel: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.fs = fs
        self.extractors = list(extractors)
        self.scope = scope
        self.limits = limits
        self.running_kernel = running_kernel
        self.progress = progress
        self._runs = [_RunLog(e.name, e.version) for e in self.extractors]
        self._packages: list[Package] = []
        self._language_count = 0
        self._limits_hit: list[LimitHit] = []
        self._stopped_language = False
        self._dispatched: set[tuple[int, str]] = set()
        self._stats = _Counters()
        self._problems: list[str] = []

    def collect(self, target: Target) -> Inventory:
        started = time.monotonic()
        self._deadline = started + self.limits.collection_seconds
        collected_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        os_info = detect_os(self.fs)
        ctx = _Context(os_info)
        index = _Dispatch.of(self.extractors)
        try:
            self._exact(index, ctx)
            if any(e.wants.needs_walk for e in self.extractors):
                self._stats.walked = True
                self._walk(index, ctx)
        except ScanTimeout as exc:
            self._limits_hit.append(LimitHit("scan_time", self.limits.collection_seconds, str(exc)))
            self._problems.insert(0, str(exc))
        packages = _merge(_mark_owned(self._packages, ctx.owned, self.fs))
        kernel = detect_kernel(self.fs, packages, running=self.running_kernel)
        stats = Stats(
            files_seen=self._stats.files_seen,
            bytes_read=self.fs.bytes_read(),
            duration_s=round(time.monotonic() - started, 4),
            walked=self._stats.walked,
        )
        return Inventory(
            target=dataclasses.replace(target, problems=(*target.problems, *self._problems)),
            os=os_info,
            kernel=kernel,
            packages=tuple(packages),
            extractors=tuple(run.frozen() for run in self._runs),
            stats=stats,
            collected_at=collected_at,
            scope=self.scope.name,
            limits_hit=tuple(self._limits_hit),
        )

    # -- reading ----------------------------------------------------------------------------------
    def _exact(self, index: _Dispatch, ctx: _Context) -> None:
        for path, wanting in index.paths.items():
            try:
                real = self.fs.resolve(path)
                info = self.fs.stat(real)
            except FSError:
                continue  # absent: the common case (an rpm path on a Debian host)
            if info.is_file:
                self._stats.files_seen += 1
                self._dispatch(info, wanting, ctx)
            else:
                # a package database that is a directory, a FIFO or a device is unusable: never "0 packages"
                for i in wanting:
                    self._runs[i].errors.append(
                        FileError(path, f"not a regular file but {describe(info.mode)}")
                    )
        for directory, wanting in index.dirs.items():
            try:
                children = sorted(self.fs.list_dir(directory), key=lambda i: i.path)
            except FSError:
                continue
            for child in children:
                self._stats.files_seen += 1
                if child.is_file:
                    self._dispatch(child, wanting, ctx)
        self._missing_databases()

    def _missing_databases(self) -> None:
        """A package manager whose database is gone: its directory exists, it read nothing, it says so."""
        for extractor, run in zip(self.extractors, self._runs, strict=True):
            for database, directory in extractor.wants.expected:
                if run.files_read or run.errors or self._exists(database) or not self._exists(directory):
                    continue
                run.errors.append(FileError(database, f"missing, although {directory} exists"))

    def _exists(self, path: str) -> bool:
        try:
            self.fs.stat(self.fs.resolve(path))
        except FSError:
            return False
        return True

    def _walk(self, index: _Dispatch, ctx: _Context) -> None:
        def walk_error(path: str, exc: FSError) -> None:
            # a directory the walk could not read belongs to no extractor: report it on the target
            self._problems.append(f"{path}: {exc}")

        for root in _independent_roots(self.fs, self.scope.roots, self.scope.excluded):
            for info in self.fs.walk(root, skip=self.scope.excluded, on_error=walk_error):
                self._stats.files_seen += 1
                if self._stats.files_seen % _CHECK_EVERY == 0 and not self._tick():
                    return
                if info.type is FileType.REGULAR:
                    wanting = index.for_walked_file(info)
                    if wanting:
                        self._dispatch(info, wanting, ctx)
                if self._stopped_language and not index.paths and not index.dirs:
                    return

    def _tick(self) -> bool:
        if self.progress is not None:
            self.progress(self._stats.files_seen, len(self._packages))
        if time.monotonic() > self._deadline:
            self._limits_hit.append(
                LimitHit(
                    "collection_time",
                    self.limits.collection_seconds,
                    f"collection stopped after {self.limits.collection_seconds:g} s; what was found is kept",
                )
            )
            return False
        return True

    def _dispatch(self, info: FileInfo, wanting: Iterable[int], ctx: _Context) -> None:
        for i in wanting:
            extractor, run = self.extractors[i], self._runs[i]
            is_language = extractor.wants.needs_walk
            if is_language and self._stopped_language:
                continue
            if (i, info.path) in self._dispatched:
                continue
            self._dispatched.add((i, info.path))
            ctx.run = run
            found = FoundFile(info, self.fs, run.files_read.append)
            try:
                new = list(extractor.extract(found, ctx))
            except ScanTimeout:
                raise
            except Exception as exc:
                run.errors.append(FileError(info.path, _describe(exc)))
                continue
            run.packages += len(new)
            if is_language:
                new = self._within_language_limit(new)
            self._packages.extend(new)

    def _within_language_limit(self, new: list[Package]) -> list[Package]:
        room = self.limits.max_language_packages - self._language_count
        if len(new) >= room:
            new = new[: max(room, 0)]
            self._stopped_language = True
            self._limits_hit.append(
                LimitHit(
                    "package_count",
                    self.limits.max_language_packages,
                    f"over {self.limits.max_language_packages} language packages; the first ones are kept",
                )
            )
        self._language_count += len(new)
        return new


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if isinstance(exc, FSError | ValueError) and text else f"{type(exc).__name__}: {text}"


def _within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _independent_roots(fs: FileSystem, roots: Sequence[str], excluded: frozenset[str]) -> Iterator[str]:
    """Existing roots, canonical, outside excluded trees, without ones inside another root.

    (`/usr/lib64` is a link to `/usr/lib` on some hosts; a custom path may name a container directory.)
    """
    canonical: list[str] = []
    for root in roots:
        try:
            real = fs.resolve(root)
            if fs.stat(real).is_dir:
                canonical.append(real)
        except FSError:
            continue
    kept: list[str] = []
    for root in sorted(set(canonical)):
        if not any(_within(root, k) for k in kept) and not any(_within(root, x) for x in excluded):
            kept.append(root)
    yield from kept


def _mark_owned(packages: list[Package], owned: dict[str, str], fs: FileSystem) -> list[Package]:
    """Mark language packages whose files an OS package installed (matched once, through the distro)."""
    if not owned:
        return packages
    aliases = _top_level_aliases(fs)
    result = []
    for package in packages:
        if package.package_manager != "OS" and package.owner is None:
            owner = next((o for loc in package.locations if (o := _owner_of(loc, owned, aliases))), None)
            if owner is not None:
                package = dataclasses.replace(package, owner=owner)
        result.append(package)
    return result


def _owner_of(path: str, owned: dict[str, str], aliases: list[tuple[str, str]]) -> str | None:
    owner = owned.get(path)
    if owner is None:
        for real, alias in aliases:
            if path.startswith(real):
                owner = owned.get(alias + path[len(real) :])
                if owner is not None:
                    break
    return owner


def _top_level_aliases(fs: FileSystem) -> list[tuple[str, str]]:
    """(real prefix, linked prefix) of top-level links: on a merged-/usr system the walk finds `/usr/lib/…`
    where the package's file list says `/lib/…`. Looking a few package locations up under both names is
    cheaper than canonicalising the hundreds of thousands of paths the file lists hold."""
    aliases = []
    try:
        entries = list(fs.list_dir("/"))
    except FSError:
        return []
    for entry in entries:
        if entry.is_symlink:
            try:
                real = fs.resolve(entry.path)
            except FSError:
                continue
            if real != entry.path:
                aliases.append((real.rstrip("/") + "/", entry.path + "/"))
    return aliases


def _merge(packages: list[Package]) -> list[Package]:
    """One entry per package identity: the same package found in two places lists both locations."""
    merged: dict[tuple[str, str | None], Package] = {}
    # in a fixed order, not the walk's: a directory and an image of it list entries in different orders,
    # and the first copy of a package found twice (installed, and in a lock file) is the one kept
    for package in sorted(packages, key=lambda p: (p.extractor, p.locations)):
        # an owned copy and a free copy of one package stay apart: only the owned one goes via the distro
        key = (package.key, package.owner)
        existing = merged.get(key)
        if existing is None:
            merged[key] = package
        else:
            locations = tuple(dict.fromkeys(existing.locations + package.locations))
            merged[key] = dataclasses.replace(existing, locations=locations)
    return sorted(merged.values(), key=lambda p: (p.package_manager != "OS", p.type, p.name, p.version))
