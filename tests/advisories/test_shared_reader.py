"""One AdvisoryDB shared by a server's threads while other processes write: never stale, never torn."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories.cache import GenerationLru
from vigil.advisories.feeds import import_path
from vigil.advisories.model import Advisory, AffectedPackage, Status
from vigil.advisories.store import AdvisoryDB, DatabaseBusy, SourceInfo

ALMA9 = IMPORTER_FIXTURES / "osv" / "almalinux" / "almalinux9" / "ALSA-2022:4940.json"
PACKAGES = 64


def _advisory(n: int) -> Advisory:
    affected = AffectedPackage("Debian", "debian:12", f"pkg{n}", Status.FIXED, fixed_version=f"1.{n}-1")
    return Advisory(f"DSA-{n}", "debian", (affected,), aliases=(f"CVE-2024-{n:04d}",))


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "advisories.db"
    with AdvisoryDB(path) as db:
        db.apply_source(SourceInfo("debian"), [_advisory(n) for n in range(PACKAGES)], complete=True)
    return path


def _import(path, source):
    """An import through a connection of its own (the process test below shows it is the same)."""
    with AdvisoryDB(path) as writer:
        import_path(writer, source)


def test_threads_read_through_one_reader_while_another_process_imports(database):
    reader = AdvisoryDB(database, readonly=True, refresh_interval=0)
    failures: list[BaseException] = []
    seen = [False] * 8
    writer_done = threading.Event()
    start = threading.Barrier(9)

    def read(thread: int) -> None:
        start.wait()
        deadline = time.monotonic() + 20
        try:
            for i in itertools.count():
                n = (i * (thread + 1)) % PACKAGES
                (candidate,) = reader.lookup("debian:12", f"pkg{n}")
                assert candidate.affected.fixed_version == f"1.{n}-1"
                assert reader.advisory(candidate.source, candidate.advisory_id).aliases == (
                    f"CVE-2024-{n:04d}",
                )
                seen[thread] = bool(reader.lookup("almalinux:9", "xz-libs"))
                if (seen[thread] and writer_done.is_set()) or time.monotonic() > deadline:
                    return
                time.sleep(0.001)  # a server's pace, not a spin that would starve the writer of CPU
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    writer = subprocess.run(
        [sys.executable, "-m", "vigil", "db", "import", str(ALMA9), "--db", str(database)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    writer_done.set()
    for thread in threads:
        thread.join(timeout=60)
    assert writer.returncode == 0, writer.stderr
    assert failures == []
    assert all(seen), "every thread sees what the other process imported, without reopening"
    reader.close()


def test_a_long_running_reader_sees_a_new_version_without_reopening(database):
    reader = AdvisoryDB(database, readonly=True, refresh_interval=0)
    assert reader.lookup("almalinux:9", "xz-libs") == [] and reader.version == 1  # cached as empty
    _import(database, ALMA9)
    assert reader.version == 2
    assert [c.advisory_id for c in reader.lookup("almalinux:9", "xz-libs")] == ["ALSA-2022:4940"]
    reader.close()


def test_a_change_is_seen_once_the_refresh_interval_has_passed(database):
    now = [0.0]
    reader = AdvisoryDB(database, readonly=True, refresh_interval=5.0, clock=lambda: now[0])
    assert reader.lookup("almalinux:9", "xz-libs") == []
    _import(database, ALMA9)
    now[0] = 4.9
    assert reader.lookup("almalinux:9", "xz-libs") == []  # within the interval: the cached answer
    now[0] = 5.0
    assert [c.advisory_id for c in reader.lookup("almalinux:9", "xz-libs")] == ["ALSA-2022:4940"]
    reader.close()


def test_enrichment_written_elsewhere_replaces_cached_scores(database, tmp_path):
    reader = AdvisoryDB(database, readonly=True, refresh_interval=0)
    assert reader.kev("CVE-2025-48384") is None
    _import(database, IMPORTER_FIXTURES / "kev" / "known_exploited_vulnerabilities.subset.json")
    assert reader.kev("CVE-2025-48384").date_added == "2025-08-25"
    reader.close()


def test_a_value_read_before_a_commit_is_not_cached_after_it():
    cache: GenerationLru[str, int] = GenerationLru(4)
    cache.advance(1)
    cache.put("key", 1, generation=0)  # read at generation 0, stored once generation 1 began
    assert cache.get("key") is None
    cache.put("key", 2, generation=1)
    assert cache.get("key") == 2
    cache.advance(2)
    assert cache.get("key") is None


def test_a_writer_waits_for_another_and_then_fails_clearly_losing_nothing(database):
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another import in the middle of its transaction
    with AdvisoryDB(database, lock_timeout=0.2) as db:
        with pytest.raises(
            DatabaseBusy, match=r"another writer held the advisory database for more than 0.2 s"
        ):
            db.apply_source(SourceInfo("late"), [_advisory(PACKAGES)], complete=True)
        holder.execute("ROLLBACK")
        assert db.version == 1 and db.lookup("debian:12", f"pkg{PACKAGES}") == []
        result = db.apply_source(SourceInfo("late"), [_advisory(PACKAGES)], complete=True)
        assert result.version == 2
    holder.close()
