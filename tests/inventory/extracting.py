"""Run one extractor on one file, the way the collector would."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vigil.fs import LiveFS
from vigil.inventory.extractor import Extractor, FoundFile
from vigil.inventory.model import OSInfo, Package

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class RecordingContext:
    """An `ExtractContext` that records what extractors report."""

    os: OSInfo | None = None
    owned: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def own_files(self, owner: Package | str, paths: Iterable[str]) -> None:
        for path in paths:
            self.owned[path] = owner if isinstance(owner, str) else owner.name

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))


def run_extractor(
    extractor: Extractor, root: Path, path: str, os_info: OSInfo | None = None
) -> tuple[list[Package], RecordingContext]:
    """Hand the file at `path` (inside the tree `root`) to `extractor`."""
    fs = LiveFS(str(root))
    ctx = RecordingContext(os=os_info)
    packages = list(extractor.extract(FoundFile(fs.stat(path), fs), ctx))
    return packages, ctx


def place(tmp_path: Path, path: str, content: bytes | str) -> Path:
    """Write `content` at `path` inside the tree rooted at tmp_path; return the tree's root."""
    target = tmp_path / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path
