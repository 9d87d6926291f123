"""The ELF reader against binutils' readelf (apt: binutils), on real 32/64-bit, little/big-endian files.

Files: Debian's ripgrep (gcc-linked, PIE), and Go programs built here for 386, arm, mips (32-bit, big
endian), s390x (64-bit, big endian) and a cgo one linked by gcc. Damaged files are real ones with one
header field changed: every problem is an `ElfError` naming it, never a large read or a hang.
"""

import io
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from tests.inventory.language.golang.gobuild import built_once

from vigil.fs import LiveFS
from vigil.inventory.language.elf import PT_LOAD, ElfError, ElfFile


def _readelf(*args: str) -> str:
    tool = shutil.which("readelf")
    assert tool is not None, "apt-get install binutils"
    return subprocess.run([tool, "-W", *args], capture_output=True, text=True, check=True).stdout


def _readelf_sections(path: Path) -> list[tuple[str, int, int, int]]:
    """(name, address, offset, size) of every section after the null one."""
    rows = []
    for line in _readelf("-S", str(path)).splitlines():
        match = re.match(r"\s*\[\s*(\d+)\]\s+(.*)", line)
        if match and int(match[1]) > 0:
            name, _type, addr, off, size = match[2].split()[:5]
            rows.append((name, int(addr, 16), int(off, 16), int(size, 16)))
    return rows


def _readelf_loads(path: Path) -> list[tuple[int, int, int, int, str]]:
    """(offset, vaddr, filesz, memsz, flags) of every LOAD program header."""
    rows = []
    for line in _readelf("-l", str(path)).splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            offset, vaddr, _paddr, filesz, memsz = (int(v, 16) for v in fields[1:6])
            rows.append((offset, vaddr, filesz, memsz, "".join(fields[6:-1])))
    return rows


def _readelf_bytes(path: Path, section: str, size: int) -> bytes:
    """The bytes of a section from readelf's hex dump (four 4-byte groups per line)."""
    data = bytearray()
    for line in _readelf("-x", section, str(path)).splitlines():
        fields = line.split()
        if fields and fields[0].startswith("0x"):
            groups = min(4, -(-(size - len(data)) // 4))
            data += bytes.fromhex("".join(fields[1 : 1 + groups]))
    return bytes(data[:size])


@pytest.fixture(scope="module")
def binaries(tmp_path_factory) -> list[Path]:
    built = built_once(tmp_path_factory)
    rg = shutil.which("rg")
    assert rg is not None, "apt-get install ripgrep"
    apps = built.apps
    return [Path(rg), apps["386"], apps["arm"], apps["mips"], apps["s390x"], built.boring]


def _open(path: Path) -> ElfFile:
    elf = ElfFile.parse(io.BytesIO(path.read_bytes()))
    assert elf is not None
    return elf


def test_class_and_byte_order(binaries):
    rg, i386, arm, mips, s390x, boring = (_open(p) for p in binaries)
    assert [(e.is_64, e.big_endian) for e in (rg, i386, arm, mips, s390x, boring)] == [
        (True, False),
        (False, False),
        (False, False),
        (False, True),
        (True, True),
        (True, False),
    ]


def test_sections_are_the_ones_readelf_lists(binaries):
    for path in binaries:
        elf = _open(path)
        assert [(s.name, s.addr, s.offset, s.size) for s in elf.sections[1:]] == _readelf_sections(path), path


def test_loadable_segments_are_the_ones_readelf_lists(binaries):
    for path in binaries:
        loads = [s for s in _open(path).segments if s.type == PT_LOAD]
        flags = ["".join(c for bit, c in ((4, "R"), (2, "W"), (1, "E")) if s.flags & bit) for s in loads]
        ours = [(s.offset, s.vaddr, s.filesz, s.memsz, f) for s, f in zip(loads, flags, strict=True)]
        assert ours == _readelf_loads(path), path


def test_section_bytes_and_virtual_addresses_read_the_same_bytes_as_readelf(binaries):
    for path in binaries[1:]:  # the Go ones: .go.buildinfo is allocated, so it is at its address too
        elf = _open(path)
        section = elf.section(".go.buildinfo")
        assert section is not None
        expected = _readelf_bytes(path, ".go.buildinfo", section.size)
        assert elf.section_data(section, 1 << 20) == expected, path
        assert elf.read_address(section.addr, section.size) == expected, path


def test_only_the_header_section_table_and_names_are_read(binaries):
    rg = binaries[0]
    fs = LiveFS(str(rg.parent))
    with fs.open("/" + rg.name) as f:
        elf = ElfFile.parse(f)
        assert elf is not None
        assert elf.section(".dep-v0") is None
    names = next(s for s in elf.sections if s.name == ".shstrtab")
    assert fs.bytes_read() == 64 + len(elf.sections) * 64 + names.size
    assert fs.bytes_read() < 4096 < rg.stat().st_size


def test_a_file_without_the_magic_is_not_elf_and_costs_one_small_read(tmp_path):
    script = tmp_path / "script"
    script.write_bytes(b"#!/bin/sh\n" + b"echo hello\n" * 10_000)
    fs = LiveFS(str(tmp_path))
    with fs.open("/script") as f:
        assert ElfFile.parse(f) is None
    assert fs.bytes_read() == 64


def test_a_section_larger_than_the_limit_is_refused(binaries):
    elf = _open(binaries[0])
    text = elf.section(".text")
    assert text is not None
    with pytest.raises(ElfError, match=r"section \.text is \d+ bytes, over the 4096-byte limit"):
        elf.section_data(text, 4096)


# -- damaged files ------------------------------------------------------------------------------------
ELF64_SHOFF, ELF64_SHENTSIZE, ELF64_SHNUM, ELF64_SHSTRNDX = 0x28, 0x3A, 0x3C, 0x3E
ELF64_PHOFF, ELF64_PHNUM = 0x20, 0x38


def _true() -> bytes:
    """coreutils' /usr/bin/true: a small 64-bit little-endian ELF file."""
    return Path(shutil.which("true") or "/usr/bin/true").read_bytes()


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _section_header_offset(data: bytes, index: int) -> int:
    return struct.unpack_from("<Q", data, ELF64_SHOFF)[0] + index * 64


def _shstrndx(data: bytes) -> int:
    return struct.unpack_from("<H", data, ELF64_SHSTRNDX)[0]


def _damaged_cases() -> dict[str, tuple[bytes, str]]:
    good = _true()
    names = _section_header_offset(good, _shstrndx(good))
    text_header = _section_header_offset(good, 1)
    zero = _section_header_offset(good, 0)
    return {
        "magic only": (good[:4], "ELF identification truncated"),
        "truncated header": (good[:40], "ELF header truncated: 40 bytes"),
        "unknown class": (good[:4] + b"\x03" + good[5:], "ELF class 3 is neither"),
        "unknown byte order": (good[:5] + b"\x00" + good[6:], "ELF data encoding 0 is neither"),
        "section table past the end": (
            _patch(good, ELF64_SHOFF, "<Q", len(good) - 100),
            "section header table at offset .* runs past the end of the file",
        ),
        "absurd section count": (_patch(good, ELF64_SHNUM, "<H", 0xFFFF), "65535 section headers"),
        "absurd extended section count": (
            _patch(_patch(good, ELF64_SHNUM, "<H", 0), zero + 32, "<Q", 1 << 40),
            "1099511627776 section headers",
        ),
        "entry size too small": (_patch(good, ELF64_SHENTSIZE, "<H", 10), "entry size 10 is smaller"),
        "name table index past the sections": (
            _patch(good, ELF64_SHSTRNDX, "<H", 500),
            "section-name table index 500 is past",
        ),
        "name table past the end": (
            _patch(good, names + 24, "<Q", 1 << 62),
            "section-name table at offset .* runs past the end",
        ),
        "name table too large": (
            _patch(good, names + 32, "<Q", 1 << 30),
            "section-name table of 1073741824 bytes",
        ),
        "name past the name table": (
            _patch(good, text_header, "<I", 1 << 30),
            "section name offset 1073741824",
        ),
        "program headers past the end": (
            _patch(good, ELF64_PHOFF, "<Q", 1 << 40),
            "program header table at offset .* runs past the end",
        ),
        "absurd program header count": (_patch(good, ELF64_PHNUM, "<H", 5000), "5000 program headers"),
    }


@pytest.mark.timeout(10)
@pytest.mark.parametrize("case", list(_damaged_cases()))
def test_damaged_headers_raise_a_clear_error(case):
    data, message = _damaged_cases()[case]
    with pytest.raises(ElfError, match=message):
        elf = ElfFile.parse(io.BytesIO(data))
        assert elf is not None
        elf.segments  # noqa: B018 (reading the program header table is what fails)
