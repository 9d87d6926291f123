"""Parse an RPM header blob as rpmdb stores it, without the rpm tool.

The blob is the header without its lead and magic: an index count and a data length (big-endian
u32 each), that many 16-byte index entries (tag, type, offset, count) and the data store. Installed
headers open with a region tag (HEADERIMMUTABLE) whose trailer, inside the data store, says how many
entries the package as built had; entries after it were added at install time and win over the
region's own. Every offset and count is checked against the blob, so a hostile blob raises
`HeaderError` instead of reading out of bounds or allocating more than its own size.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from vigil.inventory.os.rpm.records import RpmdbError

# tags (rpmtag.h)
REGION_TAGS = frozenset({61, 62, 63})  # HEADERIMAGE, HEADERSIGNATURES, HEADERIMMUTABLE
NAME, VERSION, RELEASE, EPOCH = 1000, 1001, 1002, 1003
SIZE, VENDOR, LICENSE, OLDFILENAMES = 1009, 1011, 1014, 1027
ARCH, SOURCERPM = 1022, 1044
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
LONGSIZE = 5009

# types (rpmtag.h rpmTagType)
BIN, INT32, INT64, STRING, STRING_ARRAY, I18NSTRING = 7, 4, 5, 6, 8, 9
_STRING_TYPES = frozenset({STRING, STRING_ARRAY, I18NSTRING})

_ENTRY = struct.Struct(">iIiI")  # tag, type, offset, count
_INTRO = struct.Struct(">II")  # index entry count, data store length
_NONE = "(none)"  # what rpm stores for an empty SOURCERPM, VENDOR or LICENSE
PUBKEY_NAME = "gpg-pubkey"  # imported signing keys live in rpmdb as pseudo-packages


class HeaderError(RpmdbError):
    """A header blob is malformed."""


class _Entry(NamedTuple):
    tag: int
    type: int
    offset: int
    items: int  # the element count: strings in an array, integers in an INT32 array


@dataclass(frozen=True, slots=True)
class RpmHeader:
    """The fields of an installed package's header that the inventory needs."""

    name: str
    version: str
    release: str
    epoch: int | None
    arch: str | None
    source_rpm: str | None
    vendor: str | None
    license: str | None
    size: int | None
    files: tuple[str, ...]  # absolute paths the package installed (directories included)

    @property
    def is_pubkey(self) -> bool:
        """An imported GPG key, not software: rpm keeps those as `gpg-pubkey` packages."""
        return self.name == PUBKEY_NAME


def parse_header(blob: bytes) -> RpmHeader:
    """The package fields of one header blob; HeaderError when it is malformed."""
    view = _HeaderView(blob)
    return RpmHeader(
        name=view.required_string(NAME),
        version=view.required_string(VERSION),
        release=view.required_string(RELEASE),
        epoch=view.integer(EPOCH),
        arch=view.string(ARCH),
        source_rpm=view.string(SOURCERPM),
        vendor=view.string(VENDOR),
        license=view.string(LICENSE),
        size=view.integer(LONGSIZE) if view.has(LONGSIZE) else view.integer(SIZE),
        files=view.files(),
    )


class _HeaderView:
    """Bounds-checked typed access to the tags of one blob."""

    def __init__(self, blob: bytes) -> None:
        if len(blob) < _INTRO.size:
            raise HeaderError(f"header of {len(blob)} bytes is shorter than its 8-byte intro")
        count, length = _INTRO.unpack_from(blob)
        index_end = _INTRO.size + count * _ENTRY.size
        if count < 1 or index_end + length > len(blob):
            raise HeaderError(
                f"header declares {count} entries and {length} data bytes, more than its {len(blob)} bytes"
            )
        entries = [_Entry(*fields) for fields in _ENTRY.iter_unpack(blob[_INTRO.size : index_end])]
        self._store = blob[index_end : index_end + length]
        self._tags: Mapping[int, _Entry] = self._by_tag(entries)

    def _by_tag(self, entries: list[_Entry]) -> dict[int, _Entry]:
        """Each tag's entry: the region's, then those added at install time (later ones win)."""
        first = entries[0]
        if first.tag not in REGION_TAGS:
            return {e.tag: e for e in entries}  # a legacy (v3) header: no region
        if first.type != BIN or first.items != _ENTRY.size:
            raise HeaderError(f"region tag {first.tag} has type {first.type} and count {first.items}")
        trailer = _Entry(*_ENTRY.unpack(self._slice(first.offset, _ENTRY.size, first.tag)))
        size = -trailer.offset
        if trailer.tag not in REGION_TAGS or size <= 0 or size % _ENTRY.size:
            raise HeaderError(f"region tag {first.tag}: bad trailer {tuple(trailer)}")
        region_count = size // _ENTRY.size
        if region_count > len(entries):
            raise HeaderError(f"region of {region_count} entries in a header of {len(entries)}")
        return {e.tag: e for e in entries[1:]}

    def has(self, tag: int) -> bool:
        return tag in self._tags

    def _slice(self, offset: int, length: int, tag: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > len(self._store):
            raise HeaderError(f"tag {tag}: {length} bytes at offset {offset} are past the data store")
        return self._store[offset : offset + length]

    def _entry(self, tag: int, types: frozenset[int]) -> _Entry | None:
        entry = self._tags.get(tag)
        if entry is not None and entry.type not in types:
            raise HeaderError(f"tag {tag} has type {entry.type}, expected one of {sorted(types)}")
        return entry

    def strings(self, tag: int) -> list[str] | None:
        """A string array (a single string is an array of one); None when the tag is absent."""
        entry = self._entry(tag, _STRING_TYPES)
        if entry is None:
            return None
        if entry.type == STRING and entry.items != 1:
            raise HeaderError(f"tag {tag}: a string with count {entry.items}")
        rest = len(self._store) - entry.offset
        # each string takes at least its NUL, which bounds the count by the store
        if entry.offset < 0 or entry.items < 1 or entry.items > rest:
            raise HeaderError(f"tag {tag}: {entry.items} strings at offset {entry.offset} do not fit")
        if entry.items == 1:  # the common case, without copying the rest of the store
            end = self._store.find(b"\0", entry.offset)
            parts = [self._store[entry.offset : end]] if end >= 0 else []
        else:  # count + 1 parts when every one of the count strings has its NUL
            parts = self._store[entry.offset :].split(b"\0", entry.items)[:-1]
        if len(parts) < entry.items:
            raise HeaderError(f"tag {tag}: string without its terminating NUL")
        return [part.decode("utf-8", "replace") for part in parts]

    def string(self, tag: int) -> str | None:
        """The first string of a tag; None when absent, empty or rpm's `(none)`."""
        values = self.strings(tag)
        if not values or values[0] in ("", _NONE):
            return None
        return values[0]

    def required_string(self, tag: int) -> str:
        value = self.string(tag)
        if value is None:
            raise HeaderError(f"header without tag {tag}")
        return value

    def integers(self, tag: int) -> list[int] | None:
        """An INT32 or INT64 array; None when the tag is absent."""
        entry = self._entry(tag, frozenset({INT32, INT64}))
        if entry is None:
            return None
        width = 4 if entry.type == INT32 else 8
        if entry.offset % width:
            raise HeaderError(f"tag {tag}: offset {entry.offset} is not {width}-byte aligned")
        raw = self._slice(entry.offset, entry.items * width, tag)
        return list(struct.unpack(f">{entry.items}{'I' if width == 4 else 'Q'}", raw))

    def integer(self, tag: int) -> int | None:
        values = self.integers(tag)
        return values[0] if values else None

    def files(self) -> tuple[str, ...]:
        """The absolute paths of the package's files: compressed (dir + base name) or legacy."""
        basenames = self.strings(BASENAMES)
        if basenames is None:
            return tuple(self.strings(OLDFILENAMES) or ())
        dirnames = self.strings(DIRNAMES) or []
        indexes = self.integers(DIRINDEXES) or []
        if len(indexes) != len(basenames):
            raise HeaderError(f"{len(basenames)} base names but {len(indexes)} directory indexes")
        if indexes and max(indexes) >= len(dirnames):
            raise HeaderError(f"directory index {max(indexes)} past {len(dirnames)} directory names")
        return tuple(dirnames[i] + base for i, base in zip(indexes, basenames, strict=True))
