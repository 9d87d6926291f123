"""One collection: index every extractor's wants, read exact paths, walk at most once, dispatch each file.

STYLE habit 1: extractors never walk. Exact paths and directory children are read without a walk;
names, suffixes and executables are matched during a single walk of the scope in O(1) per file. A live
tree's walk may be shared out among processes (`parallel`): what each part found comes back as records in
walk order (`dispatch`) and is applied in the order one walk meets it, so the inventory is the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from vigil.fs import FileInfo, FileSystem, FSError, LiveFS, ScanTimeout
from vigil.fs.hostfile import describe
from vigil.inventory.dispatch import Dispatch, Extraction, Unit, Walker, extract
from vigil.inventory.extractor import Extractor
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
FORK_AFTER = 4096  # entries walked alone before worker processes start: a small tree never pays for them
_PROGRESS_EVERY = 512


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
    workers: int | None = None  # processes walking a live tree: None = the CPUs this one may use; 1 = itself


Progress = Callable[[int, int], None]  # (files seen, packages found)


def _idle() -> None:
    """Nothing to do between two files."""


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


class Collector:
    """Runs extractors over one filesystem view and assembles the `Inventory`.

    What the extractors make is applied in the order one walk of the tree meets it, wherever it was made: a
    live tree bigger than `fork_after` entries is walked by `limits.workers` processes (see `parallel`) and
    gives the inventory one process walking it alone gives.
    """

    def __init__(
        self,
        fs: FileSystem,
        extractors: Sequence[Extractor],
        *,
        scope: PathScope,
        limits: Limits = Limits(),
        running_kernel: str | None = None,
        progress: Progress | None = None,
        fork_after: int = FORK_AFTER,
    ) -> None:
        self.fs = fs
        self.extractors = list(extractors)
        self.scope = scope
        self.limits = limits
        self.running_kernel = running_kernel
        self.progress = progress
        self.fork_after = fork_after
        self._exact_done = False
        self._runs = [_RunLog(e.name, e.version) for e in self.extractors]
        self._packages: list[Package] = []
        self._owned: dict[str, str] = {}
        self._language_count = 0
        self._limits_hit: list[LimitHit] = []
        self._stopped_language = False
        self._dispatched: set[tuple[int, str]] = set()
        self._files_seen = 0
        self._walked = False
        self._bytes_elsewhere = 0  # read by worker processes
        self._problems: list[str] = []

    def collect(self, target: Target) -> Inventory:
        started = time.monotonic()
        deadline = started + self.limits.collection_seconds
        collected_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        os_info = detect_os(self.fs)
        index = Dispatch.of(self.extractors, self.fs)
        try:
            if any(e.wants.needs_walk for e in self.extractors):
                walker = Walker(
                    self.fs, self.extractors, index, self.scope.excluded, os_info,
                    self.limits.max_language_packages,
                )  # fmt: skip
                self._collect_walking(walker, deadline)
            else:
                self._exact(index, os_info)
        except ScanTimeout as exc:
            self._scan_timeout(str(exc))
        packages = _merge(_mark_owned(self._packages, self._owned, self.fs))
        kernel = detect_kernel(self.fs, packages, running=self.running_kernel)
        stats = Stats(
            files_seen=self._files_seen,
            bytes_read=self.fs.bytes_read() + self._bytes_elsewhere,
            duration_s=round(time.monotonic() - started, 4),
            walked=self._walked,
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

    # -- the exact paths --------------------------------------------------------------------------
    def _exact(self, index: Dispatch, os_info: OSInfo | None, service: Callable[[], None] = _idle) -> None:
        """Read the exact paths and directory children; `service` is called between files."""
        for path, wanting in index.paths.items():
            try:
                real = self.fs.resolve(path)
                info = self.fs.stat(real)
            except FSError:
                continue  # absent: the common case (an rpm path on a Debian host)
            if info.is_file:
                self._files_seen += 1
                self._dispatch(info, wanting, os_info)
                service()
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
                self._files_seen += 1
                if child.is_file:
                    self._dispatch(child, wanting, os_info)
                    service()
        self._missing_databases()
        self._exact_done = True

    def _dispatch(self, info: FileInfo, wanting: Iterable[int], os_info: OSInfo | None) -> None:
        for i in wanting:
            if self.extractors[i].wants.needs_walk and self._stopped_language:
                continue
            if (i, info.path) in self._dispatched:
                continue
            self._dispatched.add((i, info.path))
            self._apply(extract(self.fs, self.extractors, i, info, os_info, 0))

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

    # -- the walk ---------------------------------------------------------------------------------
    def _collect_walking(self, walker: Walker, deadline: float) -> None:
        from vigil.inventory.parallel import ParallelWalk, usable_cpus  # multiprocessing: only for a walk

        roots = list(_independent_roots(self.fs, self.scope.roots, self.scope.excluded))
        workers = self.limits.workers or usable_cpus()
        if isinstance(self.fs, LiveFS) and workers > 1 and roots:
            progress = self._report if self.progress is not None else None
            walk = ParallelWalk(walker, roots, workers, self.fork_after, deadline, self._room, progress)
            walk.run(lambda service: self._exact(walker.index, walker.os_info, service))
            self._bytes_elsewhere = walk.bytes_elsewhere
            units, timed_out = list(walk.units.values()), walk.timed_out
            if not self._exact_done:  # stopped before this process had a moment for them
                self._exact(walker.index, walker.os_info)
            if walk.lost is not None:
                self._problems.append(f"{walk.lost}; the walk was done again in one process")
                units, timed_out = self._walk_alone(walker, roots, deadline)
        else:
            self._exact(walker.index, walker.os_info)
            units, timed_out = self._walk_alone(walker, roots, deadline)
        if self._stopped_language:
            return  # the exact paths gave all the language packages that can be kept: the walk counts not
        self._walked = True
        cut = self._replay(units, roots, walker, deadline)
        if timed_out and not cut:
            seconds = self.limits.collection_seconds
            detail = f"collection stopped after {seconds:g} s; what was found is kept"
            self._limits_hit.append(LimitHit("collection_time", seconds, detail))

    def _walk_alone(self, walker: Walker, roots: Sequence[str], deadline: float) -> tuple[list[Unit], bool]:
        """Each root walked by this process, one after the other, until a limit is reached."""
        units: list[Unit] = []
        if self._stopped_language:
            return units, False
        for r, root in enumerate(roots):
            room = self._room(units)
            if room <= 0:
                break
            unit = walker.walk((r,), root, self._check(deadline, sum(u.files_seen for u in units)), room=room)
            units.append(unit)
            if not unit.finished or unit.full:
                return units, not unit.finished and unit.timeout is None
        return units, False

    def _report(self, files: int, packages: int) -> None:
        """Progress of a shared-out walk, with what the exact paths gave."""
        assert self.progress is not None
        self.progress(self._files_seen + files, len(self._packages) + packages)

    def _check(self, deadline: float, base: int) -> Callable[[int, int], bool]:
        def check(seen: int, packages: int) -> bool:
            if self.progress is not None and seen % _PROGRESS_EVERY == 0:
                self.progress(self._files_seen + base + seen, len(self._packages) + packages)
            return time.monotonic() < deadline

        return check

    def _room(self, units: Sequence[Unit]) -> int:
        """The language packages that may still be kept after the exact paths and these first units."""
        if self._stopped_language or any(unit.full for unit in units):
            return 0
        kept = self._language_count + sum(unit.language_packages for unit in units)
        return self.limits.max_language_packages - kept

    def _replay(self, units: Iterable[Unit], roots: Sequence[str], walker: Walker, deadline: float) -> bool:
        """Apply the walked units in walk order; True when the language limit cut the walk short."""
        by_root = _by_root(units)
        for r, root in enumerate(roots):
            group = sorted(by_root.get(r, ()), key=lambda u: u.key)
            if _reached_twice(group):
                # a directory reached twice (a bind mount): one walk enters it once and reports a loop
                group = [walker.walk((r,), root, self._check(deadline, 0))]
            for unit in group:
                if unit.timeout is not None:
                    self._scan_timeout(unit.timeout)
                if not self._apply_unit(unit):
                    return True
        return False

    def _apply_unit(self, unit: Unit) -> bool:
        """Records and problems as the walk met them: file k's records, then what came before file k+1."""
        records: Iterator[tuple[int, int, Extraction | str]] = ((r.seq, 0, r) for r in unit.records)
        problems: Iterator[tuple[int, int, Extraction | str]] = ((seq, 1, p) for seq, p in unit.problems)
        events = heapq.merge(records, problems, key=lambda event: event[:2])
        for seq, _, item in events:
            if isinstance(item, str):
                self._problems.append(item)
            elif not self._apply(item):
                self._files_seen += seq  # the walk stops at the file that reached the language limit
                return False
        self._files_seen += unit.files_seen
        return True

    # -- applying what extractors made --------------------------------------------------------------
    def _apply(self, record: Extraction) -> bool:
        """Add one extraction to the collection; False once the language-package limit is reached."""
        is_language = self.extractors[record.extractor].wants.needs_walk
        if is_language and self._stopped_language:
            return False
        run = self._runs[record.extractor]
        run.files_read.extend(record.files_read)
        run.errors.extend(record.errors)
        for owner, paths in record.owned:
            self._owned.update(dict.fromkeys(paths, owner))
        run.packages += len(record.packages)
        new = list(record.packages)
        if is_language:
            new = self._within_language_limit(new)
        self._packages.extend(new)
        return not self._stopped_language

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

    def _scan_timeout(self, message: str) -> None:
        self._limits_hit.append(LimitHit("scan_time", self.limits.collection_seconds, message))
        self._problems.insert(0, message)


def _by_root(units: Iterable[Unit]) -> dict[int, list[Unit]]:
    groups: dict[int, list[Unit]] = defaultdict(list)
    for unit in units:
        groups[unit.key[0]].append(unit)
    return groups


def _reached_twice(group: Sequence[Unit]) -> bool:
    """Whether two parts of one root's walk entered the same directory (possible through a bind mount)."""
    entered: set[tuple[int, int]] = set()
    total = 0
    for unit in group:
        entered |= unit.entered
        total += len(unit.entered)
    return len(entered) < total


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
