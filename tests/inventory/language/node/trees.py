"""Node fixture trees placed inside a temporary target, and a collection over them."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import Extractor
from vigil.inventory.model import Inventory, Target

FIXTURES = Path(__file__).parent / "fixtures"


def copy_tree(fixture: str, root: Path, at: str) -> str:
    """Copy the fixture directory `fixture` to `at` inside the target `root` (symlinks kept); return `at`."""
    shutil.copytree(FIXTURES / fixture, root / at.lstrip("/"), symlinks=True, dirs_exist_ok=True)
    return at


def collect(root: Path, roots: Sequence[str], extractors: Sequence[Extractor]) -> Inventory:
    collector = Collector(LiveFS(str(root)), extractors, scope=PathScope("test", tuple(roots)))
    return collector.collect(Target("directory", [str(root)]))


def found(inventory: Inventory) -> list[tuple[str, str]]:
    return [(p.name, p.version) for p in inventory.packages]
