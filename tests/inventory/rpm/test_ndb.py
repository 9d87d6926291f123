import io
import random
import struct

import pytest
from tests.inventory.rpm.building import ndb_file, package_blob

from vigil.inventory.os.rpm import RpmdbError, parse_header, read_ndb

SLOTS = 32  # the first slot follows the 32-byte header


def _blobs() -> list[bytes]:
    return [package_blob(name, files=["/usr/bin/" + name]) for name in ("alpha", "beta", "gamma")]


def _names(data: bytes | io.BytesIO) -> list[str | None]:
    return [None if r.error else parse_header(r.blob).name for r in read_ndb(data)]


def _errors(data: bytes) -> list[str]:
    return [r.error for r in read_ndb(data) if r.error]


def _slot(data: bytes, index: int) -> tuple[int, int, int]:
    """Package index, block offset and block count of slot `index` (0: the first one)."""
    return struct.unpack_from("<III", data, SLOTS + 16 * index + 4)


def _patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def test_reads_every_blob_and_skips_free_slots():
    assert _names(ndb_file(_blobs())) == ["alpha", "beta", "gamma"]
    assert _names(io.BytesIO(ndb_file(_blobs()))) == ["alpha", "beta", "gamma"]


def test_an_empty_database_has_no_records():
    assert _names(ndb_file([])) == []


@pytest.mark.timeout(10)
def test_a_checksum_mismatch_costs_that_package_only():
    data = ndb_file(_blobs())
    _, block, _ = _slot(data, 1)
    data = _patched(data, block * 16 + 40, "<B", 0xAA)  # a byte inside beta's header blob
    assert _names(data) == ["alpha", None, "gamma"]
    assert _errors(data) == ["blob checksum mismatch"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (4, 99, "no blob of package 99"),  # slot's package index differs from the blob's
        (8, 1, "outside the blob area"),  # block offset inside the slot pages
        (8, 0x0FFFFFFF, "outside the blob area"),
        (12, 0xFFFFFFF0, "outside the blob area"),
        (12, 1, "cannot hold a blob"),
    ],
)
@pytest.mark.timeout(10)
def test_bad_slots_cost_their_package_only(field, value, message):
    data = _patched(ndb_file(_blobs()), SLOTS + 16 + field, "<I", value)
    assert _names(data).count(None) == 1
    assert message in _errors(data)[0]


@pytest.mark.timeout(10)
def test_overlapping_slots_are_read_once():
    data = ndb_file(_blobs())
    _, block, count = _slot(data, 0)
    for index in range(1, 3):  # every slot points at alpha's blob
        data = _patched(data, SLOTS + 16 * index + 8, "<II", block, count)
    assert _names(data).count(None) == 2


def test_a_damaged_slot_page_keeps_the_slots_before_it():
    data = _patched(ndb_file(_blobs()), SLOTS + 16 * 2, "<4s", b"XXXX")
    assert [n for n in _names(data) if n] == ["alpha", "beta"]
    assert _errors(data) == ["bad slot magic; the slot pages are damaged"]


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (0, b"RpmX", "no RpmP magic"),
        (4, struct.pack("<I", 1), "version 1"),
        (12, struct.pack("<I", 0xFFFFFF), "16777215 slot pages"),
        (12, struct.pack("<I", 0), "0 slot pages"),
    ],
)
def test_an_unusable_header_is_refused(offset, value, message):
    data = bytearray(ndb_file(_blobs()))
    data[offset : offset + len(value)] = value
    with pytest.raises(RpmdbError, match=message):
        read_ndb(bytes(data))


def test_a_file_shorter_than_a_slot_page_is_refused():
    with pytest.raises(RpmdbError, match="shorter than one slot page"):
        read_ndb(ndb_file(_blobs())[:100])


@pytest.mark.timeout(10)
def test_random_slots_give_errors_only():
    rng = random.Random(3)
    good = ndb_file(_blobs())
    for _ in range(200):
        data = bytearray(good)
        for _ in range(8):
            at = SLOTS + 16 * rng.randrange(3) + rng.choice((4, 8, 12))
            struct.pack_into("<I", data, at, rng.choice((0, 1, 256, 257, rng.getrandbits(32))))
        for record in read_ndb(bytes(data)):
            assert (record.error is None) == (record.blob != b"")
