"""Reading a Java archive as hostile input: its central directory, then only the members asked for.

`zipfile` builds an object for every entry of the central directory: on this host's 1,433 jars (434,705
entries, mostly classes) that was 2.5 s of a 9 s whole-host inventory, to find three kinds of names. This
reads the last 16 KiB (the end record, and the whole directory of a small jar), then the rest of the
central directory in one read, keeps only the entries a predicate wants, and inflates those members with
zlib: commons-lang3.jar costs 40 KB of its 595 KB. Every member read is bounded by what it really
inflates to, not by what its header claims, and the whole of one top-level archive (nested archives
included) by a budget of inflated bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from vigil.inventory.extractor import ExtractError

MAX_MEMBERS = 200_000  # a Spring Boot application holds a few tens of thousands of entries
MAX_DIRECTORY = 64 << 20  # the central directory of 200,000 entries is about 20 MiB
MAX_METADATA = 1 << 20  # pom.properties and MANIFEST.MF are a few KiB
MAX_NESTED = 64 << 20  # a nested archive is read into memory: larger ones are reported, not read
MAX_RATIO = 200  # deflate's ratio on real class files and jars is under 20; a bomb's is over 1000
MAX_INFLATED = 512 << 20  # per top-level archive, nested archives included

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory file header
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header
_STORED, _DEFLATED = 0, 8
_FIRST_TAIL = 16 << 10  # the end record, a short comment, and often the whole central directory


class ArchiveBomb(ExtractError):
    """One top-level archive inflates past its budget: the whole archive stops, not one member."""


class InflateBudget:
    """The inflated bytes one top-level archive may cost."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_INFLATED if limit is None else limit
        self.left = self.limit

    def take(self, n: int, where: str) -> None:
        self.left -= n
        if self.left < 0:
            raise ArchiveBomb(f"{where}: more than {self.limit} bytes to inflate: an archive bomb?")


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    method: int
    flags: int
    compressed: int
    size: int
    header_offset: int


@dataclass
class Archive:
    f: IO[bytes]
    where: str
    entries: list[Entry]  # only the wanted ones, in directory order
    total: int  # every entry of the directory


def open_archive(
    f: IO[bytes], where: str, wanted: Callable[[str], bool], hint: tuple[bytes, ...] = ()
) -> Archive:
    """The archive's central directory, keeping the entries whose names `wanted` accepts.

    `hint`: lower-case byte strings one of which every wanted name contains, case aside, to go straight to
    those entries: an archive of 20,000 classes holds one or two wanted names, and visiting every entry
    in Python costs 2 us each (a regular expression over the directory was slower still).
    """
    try:
        size = f.seek(0, 2)
        tail_start, tail = _read_tail(f, size, _FIRST_TAIL)
        at = tail.rfind(b"PK\x05\x06")
        if (at < 0 or len(tail) - at < _EOCD.size) and tail_start > 0:
            tail_start, tail = _read_tail(f, size, _EOCD.size + 0xFFFF)  # a comment of up to 64 KiB
            at = tail.rfind(b"PK\x05\x06")
    except OSError as exc:
        raise ExtractError(f"{where}: not a readable zip archive: {exc}") from exc
    if at < 0 or len(tail) - at < _EOCD.size:
        raise ExtractError(f"{where}: not a readable zip archive: no end of central directory record")
    _, _, _, _, count, directory_size, directory_offset, _ = _EOCD.unpack_from(tail, at)
    directory_end = tail_start + at  # the directory ends where the end record starts
    if count == 0xFFFF or directory_offset == 0xFFFFFFFF or directory_size == 0xFFFFFFFF:
        zip64 = _zip64_directory(f, directory_end, where)
        if zip64 is not None:  # else exactly 65,535 entries, without ZIP64
            directory_end -= _EOCD64.size + _EOCD64_LOCATOR.size  # the ZIP64 records come between
            count, directory_size, directory_offset = zip64
    if count > MAX_MEMBERS:
        raise ExtractError(f"{where}: {count} entries, more than the {MAX_MEMBERS} limit")
    if directory_size > MAX_DIRECTORY:
        raise ExtractError(
            f"{where}: a {directory_size}-byte central directory, over the {MAX_DIRECTORY} limit"
        )
    # an archive with data prepended (a self-extracting script) has its offsets shifted by that much
    shift = directory_end - directory_size - directory_offset
    if shift < 0:
        raise ExtractError(f"{where}: not a readable zip archive: the central directory is past its end")
    directory = _read_span(f, directory_end - directory_size, directory_end, tail_start, tail, where)
    if hint:
        entries = _hinted_entries(directory, wanted, hint, shift, where)
        if entries is not None:
            return Archive(f, where, entries, count)
    entries = []
    pos = 0
    for _ in range(count):
        entry, pos = _entry_at(directory, pos, shift, where)
        if wanted(entry.name):
            entries.append(entry)
    return Archive(f, where, entries, count)


def _entry_at(directory: bytes, pos: int, shift: int, where: str) -> tuple[Entry, int]:
    """The entry whose header starts at `pos`, and where the next one starts."""
    if pos + _CENTRAL.size > len(directory) or directory[pos : pos + 4] != b"PK\x01\x02":
        raise ExtractError(f"{where}: not a readable zip archive: a damaged central directory")
    fields = _CENTRAL.unpack_from(directory, pos)
    flags, method, compressed, size, name_len, extra_len, comment_len, offset = (
        fields[3], fields[4], fields[8], fields[9], fields[10], fields[11], fields[12], fields[16]
    )  # fmt: skip
    start = pos + _CENTRAL.size
    name = directory[start : start + name_len].decode("utf-8" if flags & 0x800 else "cp437", "replace")
    if 0xFFFFFFFF in (compressed, size, offset):
        extra = directory[start + name_len : start + name_len + extra_len]
        size, compressed, offset = _zip64_sizes(extra, size, compressed, offset)
    end = start + name_len + extra_len + comment_len
    return Entry(name, method, flags, compressed, size, offset + shift), end


def _hinted_entries(
    directory: bytes, wanted: Callable[[str], bool], hint: tuple[bytes, ...], shift: int, where: str
) -> list[Entry] | None:
    """The wanted entries found from where the `hint` strings occur, without visiting every entry.

    Each occurrence is in the name of the entry whose header is the nearest one before it (or in its extra
    field or comment: `wanted` then says no). None when the directory's layout contradicts that: the
    caller visits every entry instead.
    """
    lowered = directory.lower()
    last_match: dict[int, int] = {}  # header offset -> the furthest occurrence attributed to it
    for text in hint:
        at = lowered.find(text)
        while at >= 0:
            header = directory.rfind(b"PK\x01\x02", 0, at)
            if header < 0:
                return None
            last_match[header] = max(last_match.get(header, 0), at + len(text))
            at = lowered.find(text, at + 1)
    entries = []
    for header in sorted(last_match):
        try:
            entry, end = _entry_at(directory, header, shift, where)
        except (ExtractError, struct.error):
            return None
        if last_match[header] > end:
            return None  # an occurrence past this entry: a header between them is damaged
        if wanted(entry.name):
            entries.append(entry)
    return entries


def _read_tail(f: IO[bytes], size: int, length: int) -> tuple[int, bytes]:
    start = max(size - length, 0)
    f.seek(start)
    return start, f.read(size - start)


def _read_span(f: IO[bytes], start: int, end: int, tail_start: int, tail: bytes, where: str) -> bytes:
    """Bytes [start, end) of the archive: what the tail already holds is not read again.

    The central directory ends where the tail begins or inside it: a small archive is read once, a large
    one reads only the part of its directory before the tail.
    """
    try:
        head = b""
        if start < tail_start:
            f.seek(start)
            head = f.read(min(end, tail_start) - start)
    except OSError as exc:
        raise ExtractError(f"{where}: not a readable zip archive: {exc}") from exc
    return head + tail[max(start - tail_start, 0) : max(end - tail_start, 0)]


def _zip64_directory(f: IO[bytes], eocd_at: int, where: str) -> tuple[int, int, int] | None:
    """Entries, size and offset of the directory from the ZIP64 end record; None without its locator.

    The record is looked for right before its locator, as zipfile and Java do: its recorded offset is
    not used, so an archive with data prepended is read like any other.
    """
    records_size = _EOCD64.size + _EOCD64_LOCATOR.size
    if eocd_at < records_size:
        return None
    try:
        f.seek(eocd_at - records_size)
        records = f.read(records_size)
    except OSError as exc:
        raise ExtractError(f"{where}: not a readable zip archive: {exc}") from exc
    if len(records) < records_size or records[_EOCD64.size : _EOCD64.size + 4] != b"PK\x06\x07":
        return None
    if records[:4] != b"PK\x06\x06":
        raise ExtractError(f"{where}: not a readable zip archive: a damaged ZIP64 end record")
    fields = _EOCD64.unpack_from(records)
    return fields[7], fields[8], fields[9]


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """The ZIP64 extra field holds, in this order, each of the three that its header field could not."""
    pos = 0
    while pos + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, pos)
        if kind == 1:
            values = iter(struct.unpack_from(f"<{min(length // 8, 3)}Q", extra, pos + 4))
            size = next(values, size) if size == 0xFFFFFFFF else size
            compressed = next(values, compressed) if compressed == 0xFFFFFFFF else compressed
            offset = next(values, offset) if offset == 0xFFFFFFFF else offset
            break
        pos += 4 + length
    return size, compressed, offset


def read_member(archive: Archive, entry: Entry, limit: int, budget: InflateBudget) -> bytes:
    """A member's bytes; ExtractError when it inflates past `limit` or at a bomb's ratio."""
    name = f"{archive.where}!/{entry.name}"
    if entry.size > limit:
        raise ExtractError(f"{name}: {entry.size} bytes, over the {limit}-byte limit")
    if entry.compressed and entry.size > (1 << 20) and entry.size // entry.compressed > MAX_RATIO:
        raise ExtractError(f"{name}: compressed {entry.size // entry.compressed}:1, an archive bomb?")
    if entry.flags & 1:
        raise ExtractError(f"{name}: encrypted")
    if entry.compressed > max(limit, 1 << 20) * 2:
        raise ExtractError(f"{name}: {entry.compressed} compressed bytes, more than its limit needs")
    f = archive.f
    try:
        f.seek(entry.header_offset)
        header = f.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
            raise ExtractError(f"{name}: unreadable: no local file header where the directory points")
        name_len, extra_len = _LOCAL.unpack(header)[9:11]
        f.seek(entry.header_offset + _LOCAL.size + name_len + extra_len)
        raw = f.read(entry.compressed)
    except OSError as exc:
        raise ExtractError(f"{name}: unreadable: {exc}") from exc
    if entry.method == _STORED:
        data = raw[: limit + 1]
    elif entry.method == _DEFLATED:
        try:
            data = zlib.decompressobj(-15).decompress(raw, limit + 1)  # what it really inflates to
        except zlib.error as exc:
            raise ExtractError(f"{name}: unreadable: {exc}") from exc
    else:
        raise ExtractError(f"{name}: compression method {entry.method} is neither stored nor deflated")
    budget.take(len(data), archive.where)
    if len(data) > limit:
        raise ExtractError(f"{name}: inflates past the {limit}-byte limit its header does not declare")
    return data
