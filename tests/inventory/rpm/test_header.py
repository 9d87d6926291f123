import random
import struct

import pytest
from tests.inventory.rpm.building import header_blob, package_blob

from vigil.inventory.os.rpm.header import (
    BASENAMES,
    DIRINDEXES,
    EPOCH,
    NAME,
    OLDFILENAMES,
    SOURCERPM,
    VENDOR,
    HeaderError,
    parse_header,
)

BASE = {1000: "bash", 1001: "5.1.8", 1002: "9.el9", 1022: "x86_64"}


def _entry_offset(blob: bytes, tag: int) -> int:
    """Where the index entry of `tag` starts in `blob`."""
    (count,) = struct.unpack_from(">I", blob)
    for i in range(count):
        if struct.unpack_from(">i", blob, 8 + 16 * i)[0] == tag:
            return 8 + 16 * i
    raise KeyError(tag)


def _patch(blob: bytes, tag: int, field: str, value: int) -> bytes:
    """`blob` with one field (type, offset or count) of `tag`'s index entry replaced."""
    at = _entry_offset(blob, tag) + {"type": 4, "offset": 8, "count": 12}[field]
    data = bytearray(blob)
    struct.pack_into(">i" if field == "offset" else ">I", data, at, value)
    return bytes(data)


def test_reads_the_fields_and_the_compressed_file_list():
    blob = package_blob(
        "openssl-libs",
        "3.0.7",
        "27.el9",
        epoch=1,
        source_rpm="openssl-3.0.7-27.el9.src.rpm",
        files=["/usr/lib64/libssl.so.3", "/usr/lib64/libcrypto.so.3", "/etc/pki/tls/openssl.cnf"],
    )
    header = parse_header(blob)
    assert (header.name, header.epoch, header.version, header.release, header.arch) == (
        "openssl-libs",
        1,
        "3.0.7",
        "27.el9",
        "x86_64",
    )
    assert header.source_rpm == "openssl-3.0.7-27.el9.src.rpm"
    assert header.files == ("/usr/lib64/libssl.so.3", "/usr/lib64/libcrypto.so.3", "/etc/pki/tls/openssl.cnf")
    assert not header.is_pubkey


def test_absent_epoch_is_none_and_rpms_none_placeholder_is_none():
    header = parse_header(header_blob({**BASE, SOURCERPM: "(none)", VENDOR: "(none)"}))
    assert (header.epoch, header.source_rpm, header.vendor, header.files) == (None, None, None, ())


def test_a_legacy_header_without_region_is_read():
    assert parse_header(header_blob(BASE, region=False)).name == "bash"


def test_old_headers_list_their_files_in_full():
    header = parse_header(header_blob({**BASE, OLDFILENAMES: ["/bin/bash", "/etc/skel/.bashrc"]}))
    assert header.files == ("/bin/bash", "/etc/skel/.bashrc")


def test_entries_added_at_install_time_win_over_the_region():
    header = parse_header(header_blob({**BASE, VENDOR: "Built"}, dribbles={VENDOR: "Installed", EPOCH: 4}))
    assert (header.vendor, header.epoch) == ("Installed", 4)


def test_gpg_pubkey_pseudo_packages_are_recognised():
    header = parse_header(header_blob({1000: "gpg-pubkey", 1001: "fd431d51", 1002: "4ae0493b"}))
    assert header.is_pubkey
    assert header.arch is None


# -- hostile headers: a clear HeaderError, never IndexError, struct.error, a hang or a huge allocation


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "shorter than its 8-byte intro"),
        (struct.pack(">II", 0xFFFFFFFF, 0), "declares 4294967295 entries"),
        (struct.pack(">II", 1, 0xFFFFFFFF) + bytes(16), "4294967295 data bytes"),
        (struct.pack(">II", 0, 0), "declares 0 entries"),
    ],
)
@pytest.mark.timeout(10)
def test_impossible_counts_are_refused_before_anything_is_allocated(blob, message):
    with pytest.raises(HeaderError, match=message):
        parse_header(blob)


def test_every_truncation_of_a_header_is_a_header_error():
    blob = package_blob("bash", files=["/bin/bash"])
    for length in range(len(blob)):
        with pytest.raises(HeaderError):
            parse_header(blob[:length])


@pytest.mark.parametrize(
    ("tag", "field", "value", "message"),
    [
        (NAME, "offset", 1 << 20, "past the data store|do not fit"),
        (NAME, "offset", -8, "do not fit"),
        (NAME, "type", 4, "has type 4"),
        (NAME, "count", 2, "a string with count 2"),
        (BASENAMES, "count", 0x7FFFFFFF, "do not fit"),
        (DIRINDEXES, "count", 0x3FFFFFFF, "past the data store"),
        (DIRINDEXES, "offset", 2, "not 4-byte aligned"),
        (DIRINDEXES, "count", 1, "2 base names but 1 directory indexes"),
        (63, "offset", 1 << 20, "past the data store"),
        (63, "count", 8, "region tag 63 has type 7 and count 8"),
    ],
)
@pytest.mark.timeout(10)
def test_bad_index_entries_are_refused_with_what_is_wrong(tag, field, value, message):
    blob = package_blob("bash", files=["/bin/bash", "/usr/bin/sh"])
    with pytest.raises(HeaderError, match=message):
        parse_header(_patch(blob, tag, field, value))


def test_a_string_running_off_the_end_of_the_store_is_refused():
    blob = header_blob(BASE, region=False)
    with pytest.raises(HeaderError, match="terminating NUL"):
        parse_header(blob[:-1] + b"x")  # the last string (arch) loses its NUL


def test_a_directory_index_past_the_directory_names_is_refused():
    blob = header_blob({**BASE, DIRINDEXES: [0, 5], BASENAMES: ["a", "b"], 1118: ["/usr/"]})
    with pytest.raises(HeaderError, match="directory index 5"):
        parse_header(blob)


def test_a_region_trailer_that_claims_more_entries_than_the_header_is_refused():
    blob = bytearray(header_blob(BASE))
    trailer_at = len(blob) - 16  # the trailer closes the region's data, at the end without dribbles
    struct.pack_into(">i", blob, trailer_at + 8, -16 * 100)
    with pytest.raises(HeaderError, match="region of 100 entries"):
        parse_header(bytes(blob))


@pytest.mark.timeout(10)
def test_random_damage_gives_header_errors_only():
    blob = package_blob("bash", epoch=1, files=[f"/usr/share/doc/bash/f{i}" for i in range(20)])
    rng = random.Random(1234)
    for _ in range(3000):
        damaged = bytearray(blob)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            parse_header(bytes(damaged))
        except HeaderError:
            pass


@pytest.mark.timeout(10)
def test_random_garbage_gives_header_errors_only():
    rng = random.Random(99)
    for _ in range(2000):
        garbage = rng.randbytes(rng.randint(0, 300))
        with pytest.raises(HeaderError):
            parse_header(garbage)
