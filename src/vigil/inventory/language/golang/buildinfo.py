"""Go build information: the toolchain version and module list the Go linker writes into every binary.

The linker writes a 32-byte header into the `.go.buildinfo` section: the magic `\\xff Go buildinf:`, the
pointer size, a flags byte, then either (Go 1.18+, flag bit 2) the version and module strings inline,
each prefixed by its length as a uvarint, or (Go 1.13-1.17) two pointers to Go string headers (data
pointer, length) that are resolved through the program headers, in the byte order of flag bit 1. The
module string is framed by two 16-byte sentinels and holds tab-separated `path`, `mod`, `dep`, `=>` and
`build` lines, the text `go version -m` prints. This follows the Go toolchain's `debug/buildinfo` and
`runtime/debug.ParseBuildInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.elf import PF_W, PF_X, PT_LOAD, ElfFile

MAGIC = b"\xff Go buildinf:"
SECTION = ".go.buildinfo"
HEADER_SIZE = 32
ALIGN = 16
SEARCH_WINDOW = 64 << 10  # where there is no section, Go looks at the first 64 KiB of the data segment
MAX_SECTION = 4 << 20  # the module list of a very large program is some tens of KiB
MAX_STRING = 1 << 20  # an old-format string header claiming more is not build information
_FLAG_BIG_ENDIAN = 1
_FLAG_INLINE_STRINGS = 2


@dataclass(frozen=True, slots=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replace: Module | None = None


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str  # "go1.22.0", "go1.22.3 X:boringcrypto", "devel go1.23-abc…"
    path: str = ""  # the main package's import path
    main: Module | None = None  # absent for binaries built outside module mode (GOPATH, Debian's)
    deps: tuple[Module, ...] = ()


def read_build_info(elf: ElfFile) -> BuildInfo | None:
    """The build information of a Go binary; None for an ELF file that has none."""
    blob = _find_blob(elf)
    if blob is None:
        return None
    if len(blob) < HEADER_SIZE:
        raise ExtractError("header truncated")
    if blob[15] & _FLAG_INLINE_STRINGS:
        version, rest = _uvarint_string(blob, HEADER_SIZE)
        modinfo, _ = _uvarint_string(blob, rest)
    else:
        version, modinfo = _pointed_strings(elf, blob)
    if not version:
        return None  # Go's own reader: no version, not a Go executable
    return parse_modinfo(version.decode("utf-8", "replace"), _unframe(modinfo).decode("utf-8", "replace"))


def _find_blob(elf: ElfFile) -> bytes | None:
    """The bytes from the build-info magic on: in its section, or (no section headers) the data segment."""
    section = elf.section(SECTION)
    if section is not None:
        data = elf.section_data(section, MAX_SECTION)
    elif not elf.sections:
        # section headers stripped (sstrip): Go searches the first writable, non-executable segment
        segment = next(
            (s for s in elf.segments if s.type == PT_LOAD and s.flags & (PF_X | PF_W) == PF_W), None
        )
        if segment is None:
            return None
        data = elf.read_at(segment.offset, min(segment.filesz, SEARCH_WINDOW), "data segment")
    else:
        # Go's reader would search the data segment here too; but every Go linker writes the section,
        # and 64 KiB more from every C program of an image is not worth a binary nothing produces
        return None
    start = data.find(MAGIC)
    while start >= 0 and start % ALIGN:  # the linker aligns the header to 16 bytes
        start = data.find(MAGIC, start + 1)
    if start >= 0:
        return data[start:]
    if section is not None:
        raise ExtractError(f"the {SECTION} section holds no build information (magic not found)")
    return None


def _uvarint_string(blob: bytes, pos: int) -> tuple[bytes, int]:
    """A uvarint-length-prefixed string at `pos` and the position after it (Go 1.18+ layout)."""
    length = shift = 0
    while True:
        if pos >= len(blob):
            raise ExtractError("truncated inside a string length")
        byte = blob[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise ExtractError("a string length overflows 64 bits")
    if length > len(blob) - pos:
        raise ExtractError(f"a {length}-byte string runs past the data")
    return blob[pos : pos + length], pos + length


def _pointed_strings(elf: ElfFile, blob: bytes) -> tuple[bytes, bytes]:
    """The version and module strings of the Go 1.13-1.17 layout, through their string headers."""
    ptr_size = blob[14]
    if ptr_size not in (4, 8):
        raise ExtractError(f"pointer size {ptr_size} is neither 4 nor 8")
    order: Literal["big", "little"] = "big" if blob[15] & _FLAG_BIG_ENDIAN else "little"

    def pointer(data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + ptr_size], order)

    def string(header_address: int) -> bytes:
        header = elf.read_address(header_address, 2 * ptr_size)
        address, length = pointer(header, 0), pointer(header, ptr_size)
        if length > MAX_STRING:
            raise ExtractError(f"a {length}-byte string is over the {MAX_STRING}-byte limit")
        return elf.read_address(address, length)

    return string(pointer(blob, 16)), string(pointer(blob, 16 + ptr_size))


def _unframe(modinfo: bytes) -> bytes:
    """The module text between cmd/go's 16-byte sentinels; empty when it is not framed that way."""
    if len(modinfo) >= 33 and modinfo[-17] == ord("\n"):
        return modinfo[16:-16]
    return b""


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """The `path`, `mod`, `dep` and `=>` lines, as `runtime/debug.ParseBuildInfo` reads them."""
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    last: str | None = None  # what a `=>` line replaces: "main", "dep" or nothing
    for number, line in enumerate(text.splitlines(), 1):
        kind, _, rest = line.partition("\t")
        if kind == "path":
            path = rest
        elif kind in ("mod", "dep"):
            module = _module(rest.split("\t"), number)
            if kind == "mod":
                main, last = module, "main"
            else:
                deps.append(module)
                last = "dep"
        elif kind == "=>":
            fields = rest.split("\t")
            if len(fields) != 3:
                raise ExtractError(f"module line {number}: a replacement needs 3 columns, not {len(fields)}")
            replacement = Module(fields[0], fields[1], fields[2])
            if last == "main" and main is not None:
                main = Module(main.path, main.version, main.sum, replacement)
            elif last == "dep":
                deps[-1] = Module(deps[-1].path, deps[-1].version, deps[-1].sum, replacement)
            else:
                raise ExtractError(f"module line {number}: a replacement with no module before it")
            last = None
    return BuildInfo(go_version, path, main, tuple(deps))


def _module(fields: list[str], number: int) -> Module:
    if len(fields) not in (2, 3):
        raise ExtractError(f"module line {number}: expected 2 or 3 columns, not {len(fields)}")
    return Module(fields[0], fields[1], fields[2] if len(fields) == 3 else "")
