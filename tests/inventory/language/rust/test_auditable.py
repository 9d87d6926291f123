"""Rust binaries with cargo-auditable data: Debian's ripgrep given the `.dep-v0` section cargo-auditable
would embed, added with binutils' objcopy (cargo-auditable itself cannot be installed offline here).
"""

import json
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from tests.inventory.extracting import run_extractor

from vigil.inventory.language.binaries import BinaryExtractor

FIXTURES = Path(__file__).parent / "fixtures"
AUDIT_JSON = FIXTURES / "ripgrep-13.0.0.dep-v0.json"


def ripgrep() -> Path:
    path = shutil.which("rg")
    assert path is not None, "apt-get install ripgrep"
    return Path(path)


def with_section(binary: Path, payload: bytes, out: Path, name: str = ".dep-v0") -> Path:
    """A copy of `binary` with `payload` as section `name`, the way a linker places a data section."""
    objcopy = shutil.which("objcopy")
    assert objcopy is not None, "apt-get install binutils"
    data = out.with_suffix(".section")
    data.write_bytes(payload)
    subprocess.run(
        [objcopy, "--add-section", f"{name}={data}", "--set-section-flags", f"{name}=alloc,readonly",
         str(binary), str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    out.chmod(0o755)
    return out


def _extract(binary: Path):
    return run_extractor(BinaryExtractor(), binary.parent, "/" + binary.name)


def _errors(binary: Path) -> list[str]:
    packages, ctx = _extract(binary)
    assert packages == []
    return [message for _, message in ctx.errors]


def test_every_crate_compiled_into_the_binary_is_reported(tmp_path):
    binary = with_section(ripgrep(), zlib.compress(AUDIT_JSON.read_bytes()), tmp_path / "rg")
    packages, ctx = _extract(binary)
    assert not ctx.errors
    records = json.loads(AUDIT_JSON.read_text())["packages"]
    runtime = [(r["name"], r["version"]) for r in records if r["source"] == "crates.io" and "kind" not in r]
    assert len(runtime) == 47
    assert [(p.name, p.version) for p in packages] == runtime
    assert packages[0].purl == "pkg:cargo/aho-corasick@0.7.19"
    assert {(p.type, p.package_manager, p.extractor, p.locations, p.notes) for p in packages} == {
        ("cargo", "CARGO", "language/binary", ("/rg",), ())
    }


def test_build_dependencies_and_the_local_root_crate_are_left_out(tmp_path):
    binary = with_section(ripgrep(), zlib.compress(AUDIT_JSON.read_bytes()), tmp_path / "rg")
    names = {p.name for p in _extract(binary)[0]}
    assert not names & {"cc", "pkg-config", "ripgrep"}


def test_crates_from_git_or_another_registry_are_noted_and_a_crates_io_root_is_kept(tmp_path):
    audit = {
        "packages": [
            {
                "name": "ripgrep",
                "version": "14.1.0",
                "source": "crates.io",
                "root": True,
                "dependencies": [1, 2],
            },
            {"name": "grep", "version": "0.3.1", "source": "git"},
            {"name": "memchr", "version": "2.7.4", "source": "registry"},
        ]
    }
    binary = with_section(ripgrep(), zlib.compress(json.dumps(audit).encode()), tmp_path / "rg")
    assert [(p.name, p.notes) for p in _extract(binary)[0]] == [
        ("ripgrep", ()),
        ("grep", ("from a git repository, not crates.io",)),
        ("memchr", ("from an alternative registry, not crates.io",)),
    ]


def test_a_rust_binary_without_audit_data_yields_nothing():
    packages, ctx = _extract(ripgrep())
    assert (packages, ctx.errors) == ([], [])


@pytest.mark.timeout(10)
def test_a_zlib_bomb_stops_at_the_output_limit(tmp_path):
    bomb = zlib.compress(b"[" * (100 << 20), 9)  # 100 MiB of JSON nesting in about 100 KiB
    assert len(bomb) < 1 << 20
    binary = with_section(ripgrep(), bomb, tmp_path / "rg")
    assert _errors(binary) == ["cargo-auditable data: .dep-v0: decompresses to more than 8388608 bytes"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"not zlib at all", ".dep-v0: not a zlib stream: "),
        (zlib.compress(AUDIT_JSON.read_bytes())[:200], ".dep-v0: the zlib stream is truncated"),
        (zlib.compress(b'{"packages": [}'), ".dep-v0: not JSON: "),
        (zlib.compress(b"[" * 200_000), ".dep-v0: not JSON: "),
        (zlib.compress(b'{"crates": []}'), ".dep-v0: no `packages` array"),
        (
            zlib.compress(b'{"packages": [{"name": "libc"}]}'),
            ".dep-v0: package 0 lacks a name, version or source",
        ),
        (b"\0" * ((2 << 20) + 1), "section .dep-v0 is 2097153 bytes, over the 2097152-byte limit"),
    ],
)
def test_damaged_audit_data_is_an_error(tmp_path, payload, error):
    binary = with_section(ripgrep(), payload, tmp_path / "rg")
    (message,) = _errors(binary)
    assert message.startswith(f"cargo-auditable data: {error}")
