"""Signed database bundles for air-gapped sites: verified before anything changes."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
import time

import pytest

from vigil.advisories.bundle import (
    MAGIC,
    BundleError,
    export_bundle,
    generate_key,
    import_bundle,
    load_private_key,
    load_public_key,
)
from vigil.advisories.model import Advisory, AffectedPackage, Status
from vigil.advisories.store import AdvisoryDB, SourceInfo


@pytest.fixture
def keys(tmp_path):
    generate_key(tmp_path / "signing.pem", tmp_path / "signing.pub")
    generate_key(tmp_path / "other.pem", tmp_path / "other.pub")
    return tmp_path


@pytest.fixture
def bundle(tmp_path, keys):
    with AdvisoryDB(tmp_path / "source.db") as db:
        advisory = Advisory(
            "DSA-5000-1",
            "debian",
            (AffectedPackage("Debian", "debian:12", "openssl", Status.FIXED, fixed_version="3.0.9-1"),),
        )
        db.apply_source(SourceInfo("debian"), [advisory], complete=True)
        export_bundle(db, tmp_path / "advisories.bundle", load_private_key(keys / "signing.pem"))
    return tmp_path / "advisories.bundle"


def _existing(tmp_path):
    db = AdvisoryDB(tmp_path / "site.db")
    db.apply_source(
        SourceInfo("old"),
        [Advisory("OLD-1", "old", (AffectedPackage("Debian", "debian:12", "curl"),))],
        complete=True,
    )
    db.close()
    return tmp_path / "site.db"


def test_a_signed_bundle_replaces_the_database(tmp_path, keys, bundle):
    target = _existing(tmp_path)
    info = import_bundle(bundle, target, [load_public_key(keys / "signing.pub")])
    assert info.db_version == 1
    with AdvisoryDB(target, readonly=True) as db:
        assert [c.advisory_id for c in db.lookup("debian:12", "openssl")] == ["DSA-5000-1"]
        assert db.lookup("debian:12", "curl") == []


def _refused(tmp_path, bundle_path, trusted, match):
    target = _existing(tmp_path)
    before = target.read_bytes()
    with pytest.raises(BundleError, match=match):
        import_bundle(bundle_path, target, trusted)
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle-")]


def test_a_bundle_signed_by_an_untrusted_key_is_refused(tmp_path, keys, bundle):
    _refused(tmp_path, bundle, [load_public_key(keys / "other.pub")], "bad signature")


def test_without_a_trusted_key_nothing_is_imported(tmp_path, keys, bundle):
    _refused(tmp_path, bundle, [], "no trusted public key")


def test_an_altered_payload_is_refused(tmp_path, keys, bundle):
    data = bytearray(bundle.read_bytes())
    data[-100] ^= 0xFF
    bundle.write_bytes(bytes(data))
    _refused(tmp_path, bundle, [load_public_key(keys / "signing.pub")], "damaged|digest")


def test_an_altered_header_breaks_the_signature(tmp_path, keys, bundle):
    data = bundle.read_bytes()
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = json.loads(data[start : start + length])
    header["db_version"] = 999
    encoded = json.dumps(header, sort_keys=True).encode()
    bundle.write_bytes(MAGIC + struct.pack(">I", len(encoded)) + encoded + data[start + length :])
    _refused(tmp_path, bundle, [load_public_key(keys / "signing.pub")], "bad signature")


def test_a_truncated_bundle_is_refused(tmp_path, keys, bundle):
    bundle.write_bytes(bundle.read_bytes()[:-500])
    _refused(tmp_path, bundle, [load_public_key(keys / "signing.pub")], "truncated|digest|damaged")


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path, keys):
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"PK\x03\x04" + bytes(100))
    _refused(tmp_path, junk, [load_public_key(keys / "signing.pub")], "not a Vigil advisory bundle")


def _bundle_at(tmp_path, keys, name, advisories, *, created=None, mutate=None):
    """A bundle of a database holding `advisories` (one version per advisory), optionally altered first."""
    source = tmp_path / f"{name}.db"
    with AdvisoryDB(source) as db:
        for advisory in advisories:
            db.apply_source(SourceInfo(advisory.id), [advisory], complete=True)
    if mutate:
        raw = sqlite3.connect(source)
        raw.executescript(mutate)
        raw.close()
    out = tmp_path / f"{name}.bundle"
    clock = (lambda: created) if created else None
    with AdvisoryDB(source, readonly=True) as db:
        export_bundle(db, out, load_private_key(keys / "signing.pem"), **({"clock": clock} if clock else {}))
    return out


def _dsa(n, package="openssl"):
    affected = AffectedPackage("Debian", "debian:12", package, Status.FIXED, fixed_version=f"3.0.{n}-1")
    return Advisory(f"DSA-{5000 + n}-1", "debian", (affected,))


def test_a_bundle_older_than_the_installed_database_is_refused_as_a_rollback(tmp_path, keys):
    trusted = [load_public_key(keys / "signing.pub")]
    old = _bundle_at(tmp_path, keys, "old", [_dsa(1)])
    new = _bundle_at(tmp_path, keys, "new", [_dsa(1), _dsa(2, "curl")])
    site = tmp_path / "site.db"
    assert import_bundle(new, site, trusted).db_version == 2
    before = site.read_bytes()
    with pytest.raises(BundleError, match="older than the installed version 2: refused as a rollback"):
        import_bundle(old, site, trusted)
    assert site.read_bytes() == before
    assert import_bundle(old, site, trusted, allow_downgrade=True).db_version == 1
    with AdvisoryDB(site, readonly=True) as db:
        assert db.version == 1 and db.lookup("debian:12", "curl") == []


def test_a_bundle_created_before_the_installed_one_is_refused_even_at_the_same_version(tmp_path, keys):
    trusted = [load_public_key(keys / "signing.pub")]
    monday = dt.datetime(2030, 6, 3, tzinfo=dt.UTC)
    earlier = _bundle_at(tmp_path, keys, "earlier", [_dsa(1)], created=monday - dt.timedelta(days=7))
    later = _bundle_at(tmp_path, keys, "later", [_dsa(1)], created=monday)
    site = tmp_path / "site.db"
    import_bundle(later, site, trusted)
    with pytest.raises(
        BundleError, match=r"was created 2030-05-27T00:00:00\+00:00, before the installed bundle"
    ):
        import_bundle(earlier, site, trusted)
    assert import_bundle(later, site, trusted).created_at == "2030-06-03T00:00:00+00:00"  # the same again


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (
            "CREATE TRIGGER wipe AFTER INSERT ON advisories BEGIN DELETE FROM advisories; END;",
            "trigger 'wipe'",
        ),
        ("CREATE VIEW everything AS SELECT * FROM advisories;", "view 'everything'"),
        ("CREATE TABLE notes (text TEXT);", "table 'notes'"),
        (
            "DROP INDEX aliases_by_alias; CREATE INDEX aliases_by_alias ON aliases (source);",
            "index 'aliases_by_alias'",
        ),
    ],
)
def test_a_bundle_whose_schema_is_not_exactly_vigils_is_refused_and_nothing_of_it_persists(
    tmp_path, keys, extra, named
):
    bundle = _bundle_at(tmp_path, keys, "hostile", [_dsa(1)], mutate=extra)
    target = _existing(tmp_path)
    before = target.read_bytes()
    with pytest.raises(BundleError, match=f"not Vigil's schema: .*{named}"):
        import_bundle(bundle, target, [load_public_key(keys / "signing.pub")])
    assert target.read_bytes() == before
    with AdvisoryDB(target) as db:
        db.apply_source(SourceInfo("later"), [_dsa(2, "curl")], complete=True)  # a trigger would fire here
        assert [c.advisory_id for c in db.lookup("debian:12", "curl")] == ["OLD-1", "DSA-5002-1"]
    objects = sqlite3.connect(target).execute("SELECT type, name FROM sqlite_master WHERE type != 'index'")
    assert {kind for kind, _ in objects} == {"table"}


def test_a_bundle_import_keeps_the_database_file_its_mode_and_its_readers(tmp_path, keys, bundle):
    target = _existing(tmp_path)
    target.chmod(0o644)
    inode = target.stat().st_ino
    reader = AdvisoryDB(target, readonly=True, refresh_interval=0)
    assert [c.advisory_id for c in reader.lookup("debian:12", "curl")] == ["OLD-1"]
    import_bundle(bundle, target, [load_public_key(keys / "signing.pub")])
    assert (target.stat().st_ino, stat.S_IMODE(target.stat().st_mode)) == (inode, 0o644)
    assert reader.lookup("debian:12", "curl") == []  # the long-running reader sees the bundle at once
    assert [c.advisory_id for c in reader.lookup("debian:12", "openssl")] == ["DSA-5000-1"]
    reader.close()


def _child_has_open(pid: int, path) -> bool:
    """Whether process `pid` has `path` open (it has reached the database and waits for its lock)."""
    fds = f"/proc/{pid}/fd"
    try:
        return any(os.path.realpath(os.path.join(fds, fd)) == str(path) for fd in os.listdir(fds))
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_until(condition, child, what):
    deadline = time.monotonic() + 30
    while not condition():
        assert child.poll() is None, f"the import ended before {what}: {child.stderr.read()}"
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def _bundle_import_process(bundle, target, keys):
    return subprocess.Popen(
        [sys.executable, "-m", "vigil", "db", "import", str(bundle), "--db", str(target),
         "--trust", str(keys / "signing.pub")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_bundle_import_killed_midway_leaves_no_temporary_file_behind(tmp_path, keys, bundle):
    target = _existing(tmp_path)
    before = target.read_bytes()
    holder = sqlite3.connect(target, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the importer decompresses, then waits here for the write lock
    child = _bundle_import_process(bundle, target, keys)
    _wait_until(lambda: _child_has_open(child.pid, target.resolve()), child, "it opened the database")
    staged = [p for p in tmp_path.iterdir() if p.name.startswith((".vigil-bundle-", ".bundle-"))]
    assert len(staged) == 1 and staged[0].stat().st_size > 0  # the decompressed database
    child.send_signal(signal.SIGKILL)
    child.wait()
    holder.execute("ROLLBACK")
    holder.close()
    assert target.read_bytes() == before
    import_bundle(bundle, target, [load_public_key(keys / "signing.pub")])  # the next import sweeps
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".vigil-bundle-", ".bundle-"))]


def test_a_bundle_import_waits_for_another_import_and_never_loses_its_result(tmp_path, keys, bundle):
    target = _existing(tmp_path)
    proceed = threading.Event()

    def other_import():
        yield _dsa(7, "curl")
        proceed.wait(timeout=30)  # holds its transaction open until the bundle import waits on it

    with AdvisoryDB(target) as db:
        running = threading.Thread(
            target=lambda: db.apply_source(SourceInfo("other"), other_import(), complete=True)
        )
        running.start()
        child = _bundle_import_process(bundle, target, keys)
        _wait_until(lambda: _child_has_open(child.pid, target.resolve()), child, "it opened the database")
        proceed.set()
        running.join()
        assert db.version == 2  # the other import reported its success: version 2 with DSA-5007-1
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 1 and "older than the installed version 2: refused as a rollback" in stderr
    with AdvisoryDB(target, readonly=True) as db:
        assert [c.advisory_id for c in db.lookup("debian:12", "curl")] == ["OLD-1", "DSA-5007-1"]
    (check,) = sqlite3.connect(target).execute("PRAGMA integrity_check").fetchone()
    assert check == "ok"


def test_the_private_key_is_owner_only_from_the_moment_it_exists(tmp_path, monkeypatch):
    modes_seen = []
    chmod = os.chmod

    def watched(path, mode, *args, **kwargs):  # what a mode change would have found, had one been needed
        modes_seen.append(stat.S_IMODE(os.stat(path).st_mode))
        return chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", watched)
    umask = os.umask(0o022)  # the usual: a plainly created file is world-readable
    try:
        generate_key(tmp_path / "k.pem", tmp_path / "k.pub")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert [mode for mode in modes_seen if mode & 0o077] == []


def test_keygen_refuses_to_replace_either_half_of_a_key(tmp_path):
    (tmp_path / "k.pub").write_text("the key every site trusts\n")
    with pytest.raises(BundleError, match=r"k\.pub exists: not overwriting a key"):
        generate_key(tmp_path / "k.pem", tmp_path / "k.pub")
    assert (tmp_path / "k.pub").read_text() == "the key every site trusts\n"
    assert not (tmp_path / "k.pem").exists()
