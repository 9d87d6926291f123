"""Session-scoped pytest fixtures that build test disk images once per test session.

Register them from the top-level conftest with `pytest_plugins = ["tests.support.fixtures"]`.

Under pytest-xdist every worker is its own process with its own session, so the images are cached in a
directory the workers share (the parent of their base temp dirs) and each one is built under a file lock:
the first worker to need an image builds it, the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.support.catalog import LAYOUTS, Built
from tests.support.rootfs import build_contract_tree


class ImageCache:
    """Builds each named artefact once per test session, whichever xdist worker asks first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        with open(self.root / f".{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def get(self, key: str, build: Callable[[Path], object]) -> Path:
        """The directory holding artefact `key`, made by `build(directory)` if no worker has made it yet.

        A build that fails leaves nothing behind, so the next test that needs it fails the same way.
        """
        done = self.root / key
        marker = done / ".complete"
        with self._locked(key):
            if not marker.exists():
                # built in place, not renamed: a tree may hold symlinks to its own host path
                shutil.rmtree(done, ignore_errors=True)
                done.mkdir()
                try:
                    build(done)
                except BaseException:
                    shutil.rmtree(done, ignore_errors=True)
                    raise
                marker.touch()
        return done


@pytest.fixture(scope="session")
def image_cache(tmp_path_factory: pytest.TempPathFactory) -> ImageCache:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return ImageCache(shared / "vigil-images")


@pytest.fixture(scope="session")
def contract_tree(image_cache: ImageCache) -> Path:
    """The contract tree (see tests/support/rootfs.py) as a host directory, shared by all workers."""
    return image_cache.get("contract-tree", lambda d: build_contract_tree(d / "root")) / "root"


def _build_layout(cache: ImageCache, tree: Path, name: str) -> Built:
    def build(directory: Path) -> None:
        built = LAYOUTS[name](tree, directory)
        keep = {p.absolute() for p in built.files}
        keep |= {parent for p in keep for parent in p.parents}
        for path in sorted(directory.rglob("*"), reverse=True):  # intermediates only cost disk space
            if path.absolute() not in keep:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
        manifest = {
            "sources": [str(p.relative_to(directory)) for p in built.sources],
            "extra": [str(p.relative_to(directory)) for p in built.extra],
            "absent": sorted(built.absent),
        }
        (directory / "built.json").write_text(json.dumps(manifest))

    directory = cache.get(f"layout-{name}", build)
    manifest = json.loads((directory / "built.json").read_text())
    return Built(
        tuple(directory / p for p in manifest["sources"]),
        frozenset(manifest["absent"]),
        tuple(directory / p for p in manifest["extra"]),
    )


@pytest.fixture(scope="session")
def layout_image(image_cache: ImageCache, contract_tree: Path) -> Callable[[str], Built]:
    """`layout_image(name)`: the contract tree in that layout (see `catalog.LAYOUTS`), built once."""
    return lambda name: _build_layout(image_cache, contract_tree, name)
