"""A minimal, bounded ELF reader: the header, the section and program header tables, and chosen sections.

Go and Rust binaries carry their dependency lists in ELF sections (`.go.buildinfo`, `.dep-v0`). This runs
over every executable of a disk image, so it reads only what it is asked for: the header (64 bytes), the
section header table and the section-name table (a few KiB, usually at the end of the file), the program
header table when an address must be mapped to a file offset, and the few sections a parser wants. Never
the whole binary. Every offset and size comes from the file itself, so each is checked against the file's
size and a cap before anything is read: a hostile header raises `ElfError`, it never makes us read or
allocate much.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from vigil.inventory.extractor import ExtractError

MAGIC = b"\x7fELF"
MAX_SECTIONS = 8192  # real executables have tens; 8192 headers are at most 512 KiB to read
MAX_SEGMENTS = 1024  # real executables have about ten
MAX_NAME_TABLE = 1 << 20  # the section-name table: a few hundred bytes in practice

SHT_NOBITS = 8
PT_LOAD = 1
PF_X, PF_W = 1, 2
_SHN_XINDEX = 0xFFFF  # e_shstrndx escape: the real index is in section 0's sh_link
_PN_XNUM = 0xFFFF  # e_phnum escape: the real count is in section 0's sh_info

# (ELF header after e_ident, section header, program header) layouts per class, without the byte order
_LAYOUTS = {
    1: ("HHIIIIIHHHHHH", "IIIIIIIIII", "IIIIIIII"),
    2: ("HHIQQQIHHHHHH", "IIQQQQIIQQ", "IIQQQQQQ"),
}


class ElfError(ExtractError):
    """The file starts like an ELF file but its headers are inconsistent or truncated."""


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


class ElfFile:
    """One ELF file opened over a seekable binary file object (which the caller owns and closes).

    `parse` reads the header, the section header table and the section names; the program header table
    is read when first used (only to map addresses, which few files need).
    """

    def __init__(self, f: BinaryIO, ident: bytes, header: tuple[int, ...], file_size: int) -> None:
        self._f = f
        self.file_size = file_size
        self.is_64 = ident[4] == 2
        self.big_endian = ident[5] == 2
        order = ">" if self.big_endian else "<"
        self._section_layout, self._segment_layout = (
            struct.Struct(order + fmt) for fmt in _LAYOUTS[ident[4]][1:]
        )
        (self.type, self.machine, _, _, self._phoff, self._shoff, _, _) = header[:8]
        (_, self._phentsize, self._phnum, self._shentsize, self._shnum, self._shstrndx) = header[7:]
        self._section_zero: Section | None = None
        self.sections: tuple[Section, ...] = self._read_sections()
        self._segments: tuple[Segment, ...] | None = None

    @classmethod
    def parse(cls, f: BinaryIO) -> ElfFile | None:
        """The ELF file in `f`, or None when `f` does not start with the ELF magic (a script, data)."""
        f.seek(0)
        start = f.read(64)
        if not start.startswith(MAGIC):
            return None
        if len(start) < 16:
            raise ElfError("ELF identification truncated")
        elf_class, data = start[4], start[5]
        if elf_class not in _LAYOUTS:
            raise ElfError(f"ELF class {elf_class} is neither 32-bit (1) nor 64-bit (2)")
        if data not in (1, 2):
            raise ElfError(f"ELF data encoding {data} is neither little (1) nor big endian (2)")
        layout = struct.Struct((">" if data == 2 else "<") + _LAYOUTS[elf_class][0])
        if len(start) < 16 + layout.size:
            raise ElfError(f"ELF header truncated: {len(start)} bytes")
        file_size = f.seek(0, os.SEEK_END)
        return cls(f, start[:16], layout.unpack_from(start, 16), file_size)

    # -- sections ---------------------------------------------------------------------------------
    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_data(self, section: Section, limit: int) -> bytes:
        """The bytes of `section`; ElfError when it is larger than `limit` or runs past the file's end."""
        if section.type == SHT_NOBITS:
            raise ElfError(f"section {section.name or '#?'} has no bytes in the file (SHT_NOBITS)")
        if section.size > limit:
            raise ElfError(f"section {section.name} is {section.size} bytes, over the {limit}-byte limit")
        return self._read(section.offset, section.size, f"section {section.name}")

    def _read_sections(self) -> tuple[Section, ...]:
        """Every section header, with its name (empty names when the file has no name table)."""
        if self._shoff == 0:
            return ()  # no section header table (stripped with sstrip, or a packed file)
        count = self._shnum or self._first_section().size  # 0: the count is in section 0 (over 0xff00)
        if count == 0:
            return ()
        if count > MAX_SECTIONS:
            raise ElfError(f"{count} section headers: more than the {MAX_SECTIONS} any executable has")
        raw = self._table(self._shoff, count, self._shentsize, self._section_layout, "section header table")
        headers = [self._section_layout.unpack_from(raw, i * self._shentsize) for i in range(count)]
        names = self._name_table(headers)
        return tuple(_section(_name(names, h[0]) if names is not None else "", h) for h in headers)

    def _first_section(self) -> Section:
        """Section 0, which holds the counts and indexes too large for the ELF header's 16-bit fields."""
        if self._section_zero is None:
            raw = self._table(self._shoff, 1, self._shentsize, self._section_layout, "section header 0")
            self._section_zero = _section("", self._section_layout.unpack_from(raw))
        return self._section_zero

    def _name_table(self, headers: list[tuple[int, ...]]) -> bytes | None:
        index = self._shstrndx
        if index == _SHN_XINDEX:
            index = self._first_section().link
        if index == 0:
            return None
        if index >= len(headers):
            raise ElfError(f"section-name table index {index} is past the {len(headers)} sections")
        offset, size = headers[index][4], headers[index][5]
        if size > MAX_NAME_TABLE:
            raise ElfError(f"section-name table of {size} bytes, over the {MAX_NAME_TABLE}-byte limit")
        return self._read(offset, size, "section-name table")

    # -- segments ---------------------------------------------------------------------------------
    @property
    def segments(self) -> tuple[Segment, ...]:
        if self._segments is None:
            self._segments = self._read_segments()
        return self._segments

    def _read_segments(self) -> tuple[Segment, ...]:
        if self._phoff == 0:
            return ()
        count = self._phnum
        if count == _PN_XNUM and self._shoff:
            count = self._first_section().info
        if count > MAX_SEGMENTS:
            raise ElfError(f"{count} program headers: more than the {MAX_SEGMENTS} any executable has")
        raw = self._table(self._phoff, count, self._phentsize, self._segment_layout, "program header table")
        segments = []
        for i in range(count):
            h = self._segment_layout.unpack_from(raw, i * self._phentsize)
            if self.is_64:  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
                segments.append(Segment(h[0], h[1], h[2], h[3], h[5], h[6]))
            else:  # p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
                segments.append(Segment(h[0], h[6], h[1], h[2], h[4], h[5]))
        return tuple(segments)

    def read_address(self, vaddr: int, size: int) -> bytes:
        """`size` bytes at virtual address `vaddr`, through the loadable segment that holds them."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= vaddr and vaddr + size <= seg.vaddr + seg.filesz:
                return self._read(seg.offset + (vaddr - seg.vaddr), size, f"address {vaddr:#x}")
        raise ElfError(f"address {vaddr:#x} (+{size}) is in no loadable segment's file bytes")

    def read_at(self, offset: int, size: int, what: str) -> bytes:
        """`size` bytes at file offset `offset` (ElfError past the end of the file)."""
        return self._read(offset, size, what)

    # -- bounded reads ----------------------------------------------------------------------------
    def _table(self, offset: int, count: int, entsize: int, layout: struct.Struct, what: str) -> bytes:
        if entsize < layout.size:
            raise ElfError(f"{what}: entry size {entsize} is smaller than the {layout.size} the format needs")
        if entsize > 4 * layout.size:
            raise ElfError(f"{what}: entry size {entsize} is implausibly large")
        return self._read(offset, count * entsize, what)

    def _read(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.file_size:
            raise ElfError(
                f"{what} at offset {offset:#x} (+{size} bytes) runs past the end of the file "
                f"({self.file_size} bytes)"
            )
        self._f.seek(offset)
        data = self._f.read(size)
        if len(data) != size:
            raise ElfError(f"{what} at offset {offset:#x}: short read ({len(data)} of {size} bytes)")
        return data


def _section(name: str, h: tuple[int, ...]) -> Section:
    """From sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, …"""
    return Section(name, h[1], h[2], h[3], h[4], h[5], h[6], h[7])


def _name(table: bytes, offset: int) -> str:
    if offset >= len(table):
        raise ElfError(f"section name offset {offset} is past the {len(table)}-byte name table")
    end = table.find(b"\0", offset)
    return table[offset : end if end >= 0 else len(table)].decode("latin-1")
