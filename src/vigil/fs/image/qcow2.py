"""Compressed qcow2 clusters, inflated with zlib, because libqcow's wheels inflate some of them wrongly.

The libqcow-python wheels are built without zlib and fall back to libqcow's own inflate, which silently
returns wrong bytes for some clusters `qemu-img convert -c` wrote (cloud images ship that way). libqcow still
reads every other cluster, backing files included; this module only looks the guest offsets up in the
L1/L2 tables of each file of the chain (lazily, a few cached tables at a time) and inflates the clusters
that turn out to be compressed. Remove it once the wheels link zlib.
"""

from __future__ import annotations

import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from vigil.fs.image.reader import BoundedReader, LayerReadError, LayerStream, ReadBudget

_COMPRESSED = 1 << 62
_STANDARD_OFFSET = 0x00FF_FFFF_FFFF_FE00
_L1_OFFSET = 0x00FF_FFFF_FFFF_FE00
_ZERO = 1
_EXTENDED_L2 = 1 << 4
_CACHED_TABLES = 16
_CACHED_CLUSTERS = 8


@dataclass(frozen=True, slots=True)
class _Owner:
    """Which file of the chain holds a guest cluster, and how."""

    table: ClusterTable | None  # None: no file holds it (reads as zeros, libqcow agrees)
    entry: int = 0

    @property
    def compressed(self) -> bool:
        return self.table is not None and bool(self.entry & _COMPRESSED)


class ClusterTable:
    """The L1/L2 tables of one qcow2 (version 2 or 3) file, and its backing file's."""

    def __init__(self, reader: BoundedReader, name: str, parent: ClusterTable | None) -> None:
        head = reader.read_at(0, 112)
        version, cluster_bits = struct.unpack_from(">I", head, 4)[0], struct.unpack_from(">I", head, 20)[0]
        if version not in (2, 3) or not 9 <= cluster_bits <= 21:
            raise LayerReadError(
                f"{name}: unexpected qcow2 version {version} or cluster size 2^{cluster_bits}"
            )
        self.reader = reader
        self.name = name
        self.parent = parent
        self.cluster_bits = cluster_bits
        self.cluster_size = 1 << cluster_bits
        l1_size, l1_offset = struct.unpack_from(">IQ", head, 36)
        incompatible = struct.unpack_from(">Q", head, 72)[0] if version == 3 else 0
        header_length = struct.unpack_from(">I", head, 100)[0] if version == 3 else 72
        self.compression_type = head[104] if header_length > 104 else 0
        self.entry_size = 16 if incompatible & _EXTENDED_L2 else 8
        self.l2_entries = self.cluster_size // self.entry_size
        raw_l1 = reader.read_at(l1_offset, 8 * l1_size)
        if len(raw_l1) != 8 * l1_size:
            raise LayerReadError(f"{name}: qcow2 L1 table is cut short (truncated image)")
        self.l1 = struct.unpack(f">{l1_size}Q", raw_l1)
        self._tables: OrderedDict[int, bytes] = OrderedDict()
        self._clusters: OrderedDict[int, bytes] = OrderedDict()
        self._size_shift = 62 - (cluster_bits - 8)

    def owner(self, cluster: int) -> _Owner:
        """The file of the chain whose L2 entry for guest cluster `cluster` decides its content."""
        table: ClusterTable | None = self
        while table is not None:
            entry = table._entry(cluster)
            if entry & (_COMPRESSED | _STANDARD_OFFSET | _ZERO):
                return _Owner(table, entry)
            table = table.parent
        return _Owner(None)

    def cluster_past_end(self, offset: int, size: int) -> int | None:
        """The host offset of a cluster in `offset`..`offset+size` stored past the end of its file, if any."""
        for cluster in range(offset >> self.cluster_bits, ((offset + size - 1) >> self.cluster_bits) + 1):
            owner = self.owner(cluster)
            if owner.table is None or owner.compressed:
                continue
            host = owner.entry & _STANDARD_OFFSET
            if host and host + owner.table.cluster_size > owner.table.reader.get_size():
                return host
        return None

    def _entry(self, cluster: int) -> int:
        l1_index, l2_index = divmod(cluster, self.l2_entries)
        if l1_index >= len(self.l1):
            return 0
        l2_offset = self.l1[l1_index] & _L1_OFFSET
        if not l2_offset:
            return 0
        table = self._tables.get(l2_offset)
        if table is None:
            table = self.reader.read_at(l2_offset, self.cluster_size)
            if len(table) != self.cluster_size:
                raise LayerReadError(f"{self.name}: qcow2 L2 table is cut short (truncated image)")
            self._tables[l2_offset] = table
            if len(self._tables) > _CACHED_TABLES:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(l2_offset)
        entry: int = struct.unpack_from(">Q", table, l2_index * self.entry_size)[0]
        unallocated = not entry & (_COMPRESSED | _STANDARD_OFFSET)
        if self.entry_size == 16 and unallocated and struct.unpack_from(">Q", table, l2_index * 16 + 8)[0]:
            return _ZERO  # extended L2: subclusters zeroed here, so the backing file is not read
        return entry

    def inflate(self, entry: int) -> bytes:
        """The guest bytes of a compressed cluster."""
        cached = self._clusters.get(entry)
        if cached is not None:
            return cached
        if self.compression_type != 0:
            kind = f"qcow2 compression type {self.compression_type} (zstd)"
            raise LayerReadError(f"{self.name}: {kind} is not supported")
        descriptor = entry & (_COMPRESSED - 1)
        offset = descriptor & ((1 << self._size_shift) - 1)
        sectors = (descriptor >> self._size_shift) + 1
        length = sectors * 512 - (offset & 511)
        raw = self.reader.read_at(offset, length)
        if offset + length > self.reader.get_size() and len(raw) < length:
            raise LayerReadError(
                f"{self.name}: truncated image: a compressed cluster at {offset} runs past the end of "
                f"the file ({self.reader.get_size()} bytes)"
            )
        try:
            data = zlib.decompressobj(-15).decompress(raw, self.cluster_size)
        except zlib.error as exc:
            raise LayerReadError(f"{self.name}: compressed qcow2 cluster at {offset}: {exc}") from exc
        if len(data) != self.cluster_size:
            raise LayerReadError(f"{self.name}: compressed qcow2 cluster at {offset} is cut short")
        self._clusters[entry] = data
        if len(self._clusters) > _CACHED_CLUSTERS:
            self._clusters.popitem(last=False)
        return data


class Qcow2Stream(LayerStream):
    """A qcow2 disk read through libqcow, except for compressed clusters, which `ClusterTable` inflates."""

    def __init__(self, handle: object, size: int, name: str, budget: ReadBudget, table: ClusterTable) -> None:
        super().__init__(handle, size, name, budget)
        self.table = table

    def _read_at(self, offset: int, size: int) -> bytes:
        try:
            return self._read_clusters(offset, size)
        except LayerReadError as exc:
            cut = self.table.cluster_past_end(offset, size)
            if cut is not None:
                raise LayerReadError(
                    f"{self.name}: truncated image: guest offset {offset} is stored at {cut}, past the end "
                    f"of the file ({self.table.reader.get_size()} bytes)"
                ) from exc
            raise

    def _read_clusters(self, offset: int, size: int) -> bytes:
        bits = self.table.cluster_bits
        out: list[bytes] = []
        end = offset + size
        run_start = offset  # consecutive clusters libqcow reads in one call
        pos = offset
        while pos < end:
            cluster = pos >> bits
            piece_end = min(end, (cluster + 1) << bits)
            owner = self.table.owner(cluster)
            if owner.compressed:
                assert owner.table is not None
                if run_start < pos:
                    out.append(super()._read_at(run_start, pos - run_start))
                start = pos - (cluster << bits)
                out.append(owner.table.inflate(owner.entry)[start : start + piece_end - pos])
                run_start = piece_end
            pos = piece_end
        if run_start < end:
            out.append(super()._read_at(run_start, end - run_start))
        return b"".join(out)
