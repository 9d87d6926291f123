"""Filesystem-view fixtures: one parametrised `view` over the live tree and every image layout."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.catalog import CONTRACT_LAYOUTS, Built
from tests.support.fixtures import contract_tree, image_cache, layout_image  # noqa: F401

from vigil.fs import FileSystem, FileType, LiveFS, open_image
from vigil.fs.image.imagefs import ImageFS

VIEWS = ("live", *CONTRACT_LAYOUTS)


@dataclass(frozen=True)
class Entry:
    """What the host says about one entry of the contract tree: the oracle every view is checked against."""

    path: str
    type: FileType
    size: int  # 0 for directories and other non-files: their size means nothing across filesystems
    mode: int
    host: Path


def _type(mode: int) -> FileType:
    return FileType.from_mode(mode)


def tree_entries(tree: Path) -> dict[str, Entry]:
    """Every entry under `tree` by target path, read straight from the host (no vigil code involved)."""
    entries: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            host = Path(dirpath) / name
            st = host.lstat()
            path = "/" + str(host.relative_to(tree))
            size = st.st_size if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) else 0
            entries[path] = Entry(path, _type(st.st_mode), size, st.st_mode, host)
    return entries


@dataclass
class View:
    """One view of the contract tree, and what it cannot hold."""

    name: str
    fs: FileSystem
    tree: Path
    absent: frozenset[str]
    built: Built | None

    def reopen(self) -> LiveFS | ImageFS:
        """A new view of the same target (nothing cached, nothing counted yet)."""
        if self.built is None:
            return LiveFS(str(self.tree))
        return open_image([str(p) for p in self.built.sources], timeout=120)

    def expected(self) -> dict[str, Entry]:
        return {
            p: e
            for p, e in tree_entries(self.tree).items()
            if p not in self.absent and not any(p.startswith(a + "/") for a in self.absent)
        }


def is_lost_found(path: str) -> bool:
    """mkfs.ext4 adds lost+found at each volume's root; the tree has none."""
    return "/lost+found" in path


@pytest.fixture(scope="module", params=VIEWS)
def view(
    request: pytest.FixtureRequest,
    contract_tree: Path,  # noqa: F811
    layout_image: Callable[[str], Built],  # noqa: F811
) -> Iterator[View]:
    name: str = request.param
    if name == "live":
        yield View(name, LiveFS(str(contract_tree)), contract_tree, frozenset(), None)
        return
    built = layout_image(name)
    fs = open_image([str(p) for p in built.sources], timeout=120)
    try:
        yield View(name, fs, contract_tree, built.absent, built)
    finally:
        fs.close()
