import contextlib
import io
import random
from pathlib import Path

import pytest
from tests.inventory.rpm.building import package_blob, sqlite_file

from vigil.inventory.os.rpm import HeaderError, RpmdbError, parse_header, read_sqlite

FIXTURES = Path(__file__).parent / "fixtures"
WAL_FIXTURE = FIXTURES / "cbl-mariner-2.0" / "rpmdb.sqlite"


def _blobs() -> list[bytes]:
    return [package_blob(name, files=["/usr/bin/" + name]) for name in ("alpha", "beta")]


def _names(data: bytes | io.BytesIO) -> list[str | None]:
    return [None if r.error else parse_header(r.blob).name for r in read_sqlite(data)]


def test_reads_every_row_from_bytes_or_a_file():
    data = sqlite_file(_blobs())
    assert _names(data) == _names(io.BytesIO(data)) == ["alpha", "beta"]


def test_a_wal_mode_database_is_read_without_touching_the_input(tmp_path):
    data = WAL_FIXTURE.read_bytes()
    assert data[18:20] == b"\x02\x02"  # rpm leaves its database in WAL mode
    assert len(_names(data)) == 129
    assert data == WAL_FIXTURE.read_bytes()


def test_reading_a_database_file_creates_nothing_next_to_it(tmp_path):
    db = tmp_path / "rpmdb.sqlite"
    db.write_bytes(WAL_FIXTURE.read_bytes())
    with db.open("rb") as f:
        assert len(_names(f)) == 129
    assert [p.name for p in tmp_path.iterdir()] == ["rpmdb.sqlite"]


def test_a_row_whose_blob_is_not_bytes_is_an_error_record():
    data = sqlite_file([_blobs()[0], "not a blob"])
    records = list(read_sqlite(data))
    assert [r.error for r in records] == [None, "blob is a str, not bytes"]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("CREATE TABLE Other (hnum INTEGER, blob BLOB)", "without a Packages table"),
        (
            "CREATE VIEW Packages AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
            "SELECT x AS hnum, zeroblob(x) AS blob FROM n",
            r"Packages is not a plain table \(view\)",
        ),
        (
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB AS (zeroblob(1000000000)))",
            "without plain hnum and blob columns",
        ),
        ("CREATE TABLE Packages (id INTEGER PRIMARY KEY, data BLOB)", "without plain hnum and blob columns"),
    ],
)
@pytest.mark.timeout(10)
def test_a_schema_rpm_never_writes_is_refused_before_any_query(schema, message):
    with pytest.raises(RpmdbError, match=message):
        read_sqlite(sqlite_file([], schema=schema))


@pytest.mark.parametrize("data", [b"SQLite format 3\0" + bytes(200), b"SQLite format 3\0", b"PK\3\4"])
def test_something_that_is_not_a_database_is_refused(data):
    with pytest.raises(RpmdbError):
        read_sqlite(data)


@pytest.mark.timeout(10)
def test_a_truncated_database_keeps_the_rows_before_the_cut():
    data = WAL_FIXTURE.read_bytes()
    for cut in (4096, 100 * 4096, len(data) // 2):
        records = list(read_sqlite(data[: len(data) - cut]))
        good = [r for r in records if r.error is None]
        assert 0 < len(good) < 129
        assert records[-1].error == "scan stopped: database disk image is malformed"


@pytest.mark.timeout(10)
def test_a_database_cut_inside_its_schema_is_refused():
    with pytest.raises(RpmdbError, match="unreadable SQLite database"):
        read_sqlite(WAL_FIXTURE.read_bytes()[:4096])


@pytest.mark.timeout(10)
def test_random_page_damage_gives_errors_only():
    good = sqlite_file([package_blob(f"p{i}", files=[f"/f{j}" for j in range(50)]) for i in range(40)])
    rng = random.Random(5)
    for _ in range(100):
        data = bytearray(good)
        for _ in range(20):
            data[rng.randrange(100, len(data))] = rng.randrange(256)
        try:
            records = list(read_sqlite(bytes(data)))
        except RpmdbError:
            continue
        for record in records:
            if record.error is None:
                with contextlib.suppress(HeaderError):
                    parse_header(record.blob)
