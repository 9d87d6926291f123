"""Damaged Go build information, made by patching real binaries: a clear per-file error, never a hang."""

import struct
from pathlib import Path

import pytest
from tests.inventory.extracting import run_extractor
from tests.inventory.language.golang.gobuild import build_pre_118

from vigil.inventory.language.binaries import BinaryExtractor
from vigil.inventory.language.elf import ElfFile


def _buildinfo_offset(binary: Path) -> tuple[int, int]:
    """File offset and size of `.go.buildinfo`."""
    with binary.open("rb") as f:
        elf = ElfFile.parse(f)
        assert elf is not None
        section = elf.section(".go.buildinfo")
        assert section is not None
        return section.offset, section.size


def _patched(source: Path, tmp_path: Path, patches: dict[int, bytes]) -> Path:
    data = bytearray(source.read_bytes())
    for offset, replacement in patches.items():
        data[offset : offset + len(replacement)] = replacement
    out = tmp_path / "patched"
    out.write_bytes(bytes(data))
    out.chmod(0o755)
    return out


def _errors(binary: Path) -> list[str]:
    packages, ctx = run_extractor(BinaryExtractor(), binary.parent, "/" + binary.name)
    assert packages == []
    return [message for _, message in ctx.errors]


@pytest.mark.timeout(10)
def test_a_string_length_past_the_section_is_an_error(go_binaries, tmp_path):
    binary = go_binaries.apps["amd64"]
    offset, _ = _buildinfo_offset(binary)
    broken = _patched(binary, tmp_path, {offset + 32: b"\xff\xff\x03"})  # the version string: 65535 bytes
    assert _errors(broken) == ["Go build information: a 65535-byte string runs past the data"]


@pytest.mark.timeout(10)
def test_a_length_that_overflows_64_bits_is_an_error(go_binaries, tmp_path):
    binary = go_binaries.apps["amd64"]
    offset, _ = _buildinfo_offset(binary)
    broken = _patched(binary, tmp_path, {offset + 32: b"\xff" * 11})
    assert _errors(broken) == ["Go build information: a string length overflows 64 bits"]


@pytest.mark.timeout(10)
def test_a_section_without_the_magic_is_an_error(go_binaries, tmp_path):
    binary = go_binaries.apps["386"]
    offset, _ = _buildinfo_offset(binary)
    broken = _patched(binary, tmp_path, {offset: b"\0" * 14})
    assert _errors(broken) == [
        "Go build information: the .go.buildinfo section holds no build information (magic not found)"
    ]


@pytest.mark.timeout(10)
def test_old_layout_pointers_outside_the_file_are_an_error(tmp_path):
    binary = build_pre_118(tmp_path / "old")
    offset, _ = _buildinfo_offset(binary)
    broken = _patched(binary, tmp_path, {offset + 16: struct.pack("<Q", 0x7FFF_FFFF_0000)})
    assert _errors(broken) == [
        "Go build information: address 0x7fffffff0000 (+16) is in no loadable segment's file bytes"
    ]


@pytest.mark.timeout(10)
def test_an_old_layout_string_header_claiming_a_huge_length_is_an_error(tmp_path):
    binary = build_pre_118(tmp_path / "old")
    with binary.open("rb") as f:
        elf = ElfFile.parse(f)
        assert elf is not None
        section = elf.section(".go.buildinfo")
        assert section is not None
        blob = elf.section_data(section, 64)
        header_address = struct.unpack_from("<Q", blob, 24)[0]  # the module string's header
        header_offset = next(
            s.offset + header_address - s.vaddr
            for s in elf.segments
            if s.type == 1 and s.vaddr <= header_address < s.vaddr + s.filesz
        )
    broken = _patched(binary, tmp_path, {header_offset + 8: struct.pack("<Q", 1 << 40)})
    assert _errors(broken) == [
        "Go build information: a 1099511627776-byte string is over the 1048576-byte limit"
    ]


@pytest.mark.timeout(10)
def test_an_unknown_pointer_size_is_an_error(tmp_path):
    binary = build_pre_118(tmp_path / "old")
    offset, _ = _buildinfo_offset(binary)
    broken = _patched(binary, tmp_path, {offset + 14: b"\x03"})
    assert _errors(broken) == ["Go build information: pointer size 3 is neither 4 nor 8"]


@pytest.mark.timeout(10)
def test_a_malformed_module_line_is_an_error(go_binaries, tmp_path):
    binary = go_binaries.apps["amd64"]
    line = b"=>\texample.com/fork\tv1.0.1\t"
    offset, size = _buildinfo_offset(binary)  # the runtime keeps a second copy elsewhere: not that one
    at = binary.read_bytes().index(line, offset, offset + size)
    broken = _patched(binary, tmp_path, {at + len(line) - 1: b" "})  # the sum column joins the version
    assert _errors(broken) == ["Go build information: module line 5: a replacement needs 3 columns, not 2"]
