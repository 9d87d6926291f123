"""Walking one part of a tree and handing each wanted file to its extractors, as records kept in walk order.

Whoever walks a part (the collecting process, or a worker process when a live tree is walked by several),
the result is the same `Unit`: what each extraction made, the walk's problems, each tagged with the walk
entry it came at. The collector applies units in the order one walk of the whole tree would have met them,
so limits, duplicates and errors come out the same however the tree was shared out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vigil.fs import FileInfo, FileSystem, FileType, FSError, LiveFS, ScanTimeout
from vigil.inventory.extractor import Extractor, FoundFile
from vigil.inventory.model import FileError, OSInfo, Package

if TYPE_CHECKING:
    from vigil.fs.live import WalkSplit

Key = tuple[int, ...]  # a unit's place in the order of one whole walk (see `parallel`)
CHECK_EVERY = 16  # walk entries between two looks at the clock, the limits and idle workers

_NOTHING: tuple[int, ...] = ()


@dataclass
class Dispatch:
    """Every extractor's wants, indexed so that one file finds its extractors in O(1)."""

    paths: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    dirs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    names: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_extension: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    by_tail: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    executables: list[int] = field(default_factory=list)
    # (extractor, canonical path or directory) read before the walk: an extractor wanting a file both by
    # path and by name gets it once
    exact_files: set[tuple[int, str]] = field(default_factory=set)
    exact_dirs: set[tuple[int, str]] = field(default_factory=set)

    @classmethod
    def of(cls, extractors: Sequence[Extractor], fs: FileSystem) -> Dispatch:
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
            if wants.needs_walk:
                index.exact_files |= {(i, real) for real in _canonical(fs, wants.paths)}
                index.exact_dirs |= {(i, real) for real in _canonical(fs, wants.dirs)}
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
        if dot >= 0:
            by_extension = self.by_extension.get(name[dot + 1 :].lower())
            if by_extension:
                lowered = name.lower()
                found.extend(i for suffix, i in by_extension if lowered.endswith(suffix))
        if self.executables and info.mode & 0o111:
            found.extend(self.executables)
        if self.exact_files or self.exact_dirs:
            directory = path[: path.rfind("/")] or "/"
            exact_files, exact_dirs = self.exact_files, self.exact_dirs
            found = [i for i in found if (i, path) not in exact_files and (i, directory) not in exact_dirs]
        return found


def _canonical(fs: FileSystem, paths: Iterable[str]) -> Iterable[str]:
    for path in paths:
        try:
            yield fs.resolve(path)
        except FSError:
            continue


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one extractor made of one file."""

    seq: int  # the walk entry it came at (1-based in its unit); 0 before the walk
    extractor: int
    path: str
    packages: tuple[Package, ...]
    files_read: tuple[str, ...]
    errors: tuple[FileError, ...]
    owned: tuple[tuple[str, tuple[str, ...]], ...]  # (OS package, the files it installed)


class _Recorder:
    """The `ExtractContext` of one extraction: what the extractor reports is kept for its record."""

    def __init__(self, os_info: OSInfo | None) -> None:
        self._os = os_info
        self.owned: list[tuple[str, tuple[str, ...]]] = []
        self.errors: list[FileError] = []

    @property
    def os(self) -> OSInfo | None:
        return self._os

    def own_files(self, owner: Package | str, paths: Iterable[str]) -> None:
        self.owned.append((owner if isinstance(owner, str) else owner.name, tuple(paths)))

    def error(self, path: str, message: str) -> None:
        self.errors.append(FileError(path, message))


def extract(
    fs: FileSystem, extractors: Sequence[Extractor], i: int, info: FileInfo, os_info: OSInfo | None, seq: int
) -> Extraction:
    """Run extractor `i` on one file; a failure is the record's last error (ScanTimeout goes up)."""
    ctx = _Recorder(os_info)
    files_read: list[str] = []
    try:
        packages = tuple(extractors[i].extract(FoundFile(info, fs, files_read.append), ctx))
    except ScanTimeout:
        raise
    except Exception as exc:
        ctx.errors.append(FileError(info.path, describe(exc)))
        packages = ()
    return Extraction(seq, i, info.path, packages, tuple(files_read), tuple(ctx.errors), tuple(ctx.owned))


def describe(exc: BaseException) -> str:
    text = str(exc)
    return text if isinstance(exc, FSError | ValueError) and text else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True, slots=True)
class Unit:
    """One walked part of a tree: its records and problems in walk order, and how the walk ended."""

    key: Key
    records: tuple[Extraction, ...]
    problems: tuple[tuple[int, str], ...]  # (walk entries seen before it, message)
    files_seen: int
    language_packages: int  # in its records
    finished: bool  # walked to its end, or until `full`
    full: bool  # its language packages filled the room it had: nothing after it can be kept
    entered: frozenset[tuple[int, int]] = frozenset()  # directories entered (a split live walk only)
    bytes_read: int = 0
    timeout: str | None = None  # a disk image's read deadline passed (ScanTimeout)


@dataclass(frozen=True, slots=True)
class Walker:
    """What walking a part needs: the view, the extractors and their index, the scope's exclusions."""

    fs: FileSystem
    extractors: Sequence[Extractor]
    index: Dispatch
    excluded: frozenset[str]
    os_info: OSInfo | None
    max_language_packages: int

    def walk(
        self,
        key: Key,
        top: str,
        check: Callable[[int, int], bool],
        split: WalkSplit | None = None,
        room: int | None = None,
    ) -> Unit:
        """Walk `top`, extracting as it goes, until its language packages fill `room` (the limit by default);
        `check(entries, packages)` is asked every few entries whether to go on (the clock, a stop request)
        and may take directories away through `split`."""
        room = self.max_language_packages if room is None else room
        records: list[Extraction] = []
        problems: list[tuple[int, str]] = []
        seen = language = 0
        finished = full = False
        timeout = None
        before = self.fs.bytes_read()

        def walk_error(path: str, exc: FSError) -> None:
            # a directory the walk could not read belongs to no extractor: reported on the target
            problems.append((seen, f"{path}: {exc}"))

        if split is None:
            entries = self.fs.walk(top, skip=self.excluded, on_error=walk_error)
        else:
            assert isinstance(self.fs, LiveFS), "only a live tree's walk is shared out"
            entries = self.fs.walk(top, skip=self.excluded, on_error=walk_error, split=split)
        try:
            for info in entries:
                seen += 1
                if seen % CHECK_EVERY == 0 and not check(seen, language):
                    break
                if info.type is not FileType.REGULAR:
                    continue
                for i in self.index.for_walked_file(info):
                    record = extract(self.fs, self.extractors, i, info, self.os_info, seen)
                    records.append(record)
                    language += len(record.packages)
                if language >= room:
                    full = True
                    break
            else:
                finished = True
        except ScanTimeout as exc:
            timeout = str(exc)
        except FSError as exc:  # the top itself is gone or no longer a directory (a live host changes)
            problems.append((seen, f"{top}: {exc}"))
            finished = True
        return Unit(
            key,
            tuple(records),
            tuple(problems),
            seen,
            language,
            finished or full,
            full,
            split.entered() if split is not None else frozenset(),
            self.fs.bytes_read() - before,
            timeout,
        )
