"""The executable extractor inside a real collection: one open per executable for both Go and Rust."""

import re
import shutil
import zlib
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from tests.inventory.language.golang.gobuild import built_once
from tests.inventory.language.rust.test_auditable import AUDIT_JSON, ripgrep, with_section

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.language.binaries import BinaryExtractor
from vigil.inventory.language.rust import CargoLockExtractor
from vigil.inventory.model import Target

TRIVY_LOCK = Path(__file__).parent / "rust" / "fixtures" / "trivy" / "cargo_v3.lock"


class CountingFS(LiveFS):
    """A LiveFS that counts how often each file is opened."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.opened: Counter[str] = Counter()

    def open(self, path: str) -> BinaryIO:
        self.opened[path] += 1
        return super().open(path)


def _tree(root: Path, tmp_path_factory) -> Path:
    built = built_once(tmp_path_factory)
    bin_dir = root / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy(built.apps["amd64"], bin_dir / "app")
    payload = zlib.compress(AUDIT_JSON.read_bytes())
    with_section(ripgrep(), payload, bin_dir / "rg")
    with_section(built.apps["amd64"], payload, bin_dir / "both")  # a Go program linking Rust code
    (bin_dir / "hello.sh").write_text("#!/bin/sh\necho hello\n")
    (bin_dir / "hello.sh").chmod(0o755)
    (bin_dir / "truncated").write_bytes(built.apps["amd64"].read_bytes()[:4096])  # an interrupted copy
    (bin_dir / "truncated").chmod(0o755)
    (root / "opt").mkdir()
    shutil.copy(built.apps["386"], root / "opt" / "not-executable")
    (root / "opt" / "not-executable").chmod(0o644)
    (root / "srv" / "app").mkdir(parents=True)
    shutil.copy(TRIVY_LOCK, root / "srv" / "app" / "Cargo.lock")
    return root


def test_go_and_rust_packages_from_one_collection(tmp_path, tmp_path_factory):
    fs = CountingFS(str(_tree(tmp_path / "root", tmp_path_factory)))
    inventory = Collector(fs, [BinaryExtractor(), CargoLockExtractor()], scope=PathScope.all()).collect(
        Target("directory", ["/"])
    )
    by_location = Counter((loc, p.package_manager) for p in inventory.packages for loc in p.locations)
    assert by_location == {
        ("/usr/local/bin/app", "GOBINARY"): 5,
        ("/usr/local/bin/both", "GOBINARY"): 5,
        ("/usr/local/bin/both", "CARGO"): 47,
        ("/usr/local/bin/rg", "CARGO"): 47,
        ("/srv/app/Cargo.lock", "CARGO"): 8,
    }
    binary_run, lock_run = inventory.extractors
    assert (binary_run.name, lock_run.errors) == ("language/binary", ())
    ((path, error),) = [(e.path, e.error) for e in binary_run.errors]
    assert path == "/usr/local/bin/truncated"
    assert re.fullmatch(
        r"section-name table at offset 0x\w+ \(\+\d+ bytes\) runs past the end of the file \(4096 bytes\)",
        error,
    )
    assert sorted(binary_run.files_read) == [
        "/usr/local/bin/app",
        "/usr/local/bin/both",
        "/usr/local/bin/hello.sh",
        "/usr/local/bin/rg",
        "/usr/local/bin/truncated",
    ]  # not /opt/not-executable: no execute bit
    assert all(fs.opened[path] == 1 for path in binary_run.files_read)


def test_a_collection_reads_headers_and_sections_not_whole_binaries(tmp_path, tmp_path_factory):
    root = _tree(tmp_path / "root", tmp_path_factory)
    fs = LiveFS(str(root))
    inventory = Collector(fs, [BinaryExtractor()], scope=PathScope.all()).collect(Target("directory", ["/"]))
    executables = sum(p.stat().st_size for p in (root / "usr" / "local" / "bin").iterdir())
    assert inventory.stats.bytes_read < 64 << 10 < executables // 100
