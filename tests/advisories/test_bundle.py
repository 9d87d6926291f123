"""Signed database bundles for air-gapped sites: verified before anything changes."""

from __future__ import annotations

import json
import struct

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
