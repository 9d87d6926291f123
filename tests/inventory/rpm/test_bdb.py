import contextlib
import io
import random
import struct

import pytest
from tests.inventory.rpm.building import bdb_file, package_blob

from vigil.inventory.os.rpm import HeaderError, RpmdbError, parse_header, read_bdb

PAGE = 512
BIG_FILES = [f"/usr/share/doc/pkg/file-{i:04d}" for i in range(60)]  # a blob over several pages


def _blobs() -> list[bytes]:
    return [package_blob(name, files=BIG_FILES) for name in ("alpha", "beta")]


def _names(data: bytes | io.BytesIO) -> list[str | None]:
    """Each record's package name, or None for a record that is an error."""
    return [None if r.error else parse_header(r.blob).name for r in read_bdb(data)]


def _errors(data: bytes) -> list[str]:
    return [r.error for r in read_bdb(data) if r.error]


def _data_item(data: bytes, pair: int, order: str = "<") -> int:
    """File offset of the data item of key/data pair `pair` on hash page 1."""
    (entries,) = struct.unpack_from(order + "H", data, PAGE + 20)
    offsets = struct.unpack_from(f"{order}{entries}H", data, PAGE + 26)
    return PAGE + offsets[2 * pair + 1]


def _chain(data: bytes, pair: int) -> tuple[int, int]:
    """First and last page of pair `pair`'s overflow chain."""
    first, _ = struct.unpack_from("<II", data, _data_item(data, pair) + 4)
    page = first
    while (following := struct.unpack_from("<I", data, page * PAGE + 16)[0]) != 0:
        page = following
    return first, page


def _patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("inline", [False, True])
def test_both_byte_orders_with_overflow_and_inline_items(order, inline):
    blobs = [package_blob("alpha", files=["/a"]), package_blob("beta", files=["/b"])]
    data = bdb_file(blobs, order=order, inline=inline, page_size=4096 if inline else PAGE)
    assert _names(data) == ["alpha", "beta"]


def test_pages_with_checksums_keep_their_items_after_the_checksum():
    assert _names(bdb_file(_blobs(), checksummed=True)) == ["alpha", "beta"]


def test_rpms_counter_record_is_not_a_package():
    assert _names(bdb_file(_blobs(), counter=True)) == ["alpha", "beta"]


def test_a_seekable_file_reads_like_bytes():
    data = bdb_file(_blobs())
    assert _names(io.BytesIO(data)) == _names(data) == ["alpha", "beta"]


@pytest.mark.timeout(10)
def test_a_looping_overflow_chain_costs_its_package_only():
    data = bdb_file(_blobs())
    first, last = _chain(data, 0)
    data = _patched(data, last * PAGE + 16, "<I", first)  # the last page points back to the first
    data = _patched(data, _data_item(data, 0) + 8, "<I", len(data) - 1)  # and the item claims more
    assert _names(data) == [None, "beta"]
    assert "looped, shared or outside the file" in _errors(data)[0]


@pytest.mark.timeout(10)
def test_two_items_sharing_one_chain_are_read_once():
    data = bdb_file(_blobs())
    first, _ = _chain(data, 0)
    data = _patched(data, _data_item(data, 1) + 4, "<I", first)
    assert _names(data) == ["alpha", None]


@pytest.mark.parametrize(
    ("page", "length", "message"),
    [
        (10**6, None, "outside the file"),
        (1, None, "of type 13"),  # the hash page itself
        (None, 0xFFFFFFFF, "overflow item of 4294967295 bytes"),
        (None, 100, "holds 486 bytes, the item says 100"),
    ],
)
@pytest.mark.timeout(10)
def test_bad_overflow_references_are_errors(page, length, message):
    data = bdb_file(_blobs())
    first, _ = _chain(data, 0)
    real_length = struct.unpack_from("<I", data, _data_item(data, 0) + 8)[0]
    data = _patched(data, _data_item(data, 0) + 4, "<II", page or first, length or real_length)
    assert _names(data) == [None, "beta"]
    assert message in _errors(data)[0]


@pytest.mark.timeout(10)
def test_a_truncated_file_keeps_the_packages_before_the_cut():
    data = bdb_file(_blobs())
    _, last = _chain(data, 1)
    cut = data[: last * PAGE]  # beta's last overflow page is gone
    assert _names(cut) == [None, "alpha", None]
    assert "truncated" in _errors(cut)[0]


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (20, "<I", 1000, "page size 1000"),
        (24, "<B", 1, "encrypted"),
        (12, "<I", 0x053162, "not a BerkeleyDB hash database"),
    ],
)
def test_unusable_metadata_is_refused(offset, fmt, value, message):
    with pytest.raises(RpmdbError, match=message):
        read_bdb(_patched(bdb_file(_blobs()), offset, fmt, value))


@pytest.mark.timeout(10)
def test_a_hash_page_with_impossible_items_is_one_error():
    data = _patched(bdb_file(_blobs()), PAGE + 20, "<H", 3)  # an odd item count
    assert _errors(data) == ["hash page with 3 items"]
    data = _patched(bdb_file(_blobs()), PAGE + 26, "<H", 4)  # an item inside the page header
    assert _errors(data) == ["item offset outside the page"]


@pytest.mark.timeout(10)
def test_a_huge_last_page_number_on_a_small_file_is_bounded_by_the_file():
    data = _patched(bdb_file(_blobs()), 32, "<I", 0xFFFFFFFF)
    assert _names(data) == [None, "alpha", "beta"]


@pytest.mark.timeout(10)
def test_random_pages_after_a_good_metadata_page_give_errors_only():
    rng = random.Random(7)
    meta = bdb_file([])[:PAGE]
    for _ in range(50):
        pages = bytearray(rng.randbytes(PAGE * 40))
        for number in range(1, 40):  # make most pages claim to be hash or overflow pages
            pages[(number - 1) * PAGE + 25] = rng.choice((2, 7, 13, 13))
        data = _patched(meta, 32, "<I", 40) + bytes(pages)
        for record in read_bdb(data):  # anything but an RpmdbError, raised or recorded, fails the test
            if record.error is None:
                with contextlib.suppress(HeaderError):
                    parse_header(record.blob)
