"""Signed, compressed bundles of a whole advisory database, for air-gapped sites.

Layout: a magic line, a 4-byte header length, a JSON header (database version, payload size and SHA-256,
the signing key's id and an Ed25519 signature over the rest of the header), then the payload: the
SQLite database compressed with xz. A bundle is verified before anything is written, and the database
is replaced atomically (rename) only after the payload's digest and the database's integrity check pass.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import lzma
import os
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.advisories.store import SCHEMA_VERSION, AdvisoryDB

MAGIC = b"VIGIL-ADVISORY-BUNDLE/1\n"
MAX_HEADER = 64 << 10
MAX_DATABASE_BYTES = 64 << 30  # refuse to decompress a payload claiming more than this
_CHUNK = 1 << 20


class BundleError(ValueError):
    """The bundle is not a Vigil bundle, is damaged, or is not signed by a trusted key."""


@dataclass(frozen=True, slots=True)
class BundleInfo:
    db_version: int
    created_at: str
    key_id: str
    payload_sha256: str
    payload_bytes: int
    database_bytes: int


def generate_key(private_path: Path, public_path: Path) -> str:
    """A new Ed25519 signing key (PEM, owner-readable only) and its public half; returns the key id."""
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_id(key.public_key())


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path}: not an Ed25519 public key")
    return key


def _signed_part(header: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in header.items() if k != "signature"}, sort_keys=True).encode()


def export_bundle(db: AdvisoryDB, out: Path, key: Ed25519PrivateKey) -> BundleInfo:
    """Write the whole database as one signed bundle at `out` (atomically)."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        snapshot = Path(tmp) / "advisories.db"
        db.backup_to(snapshot)
        payload = Path(tmp) / "payload.xz"
        digest = hashlib.sha256()
        with open(snapshot, "rb") as src, open(payload, "wb") as dst:
            compressor = lzma.LZMACompressor(preset=6)
            while chunk := src.read(_CHUNK):
                data = compressor.compress(chunk)
                digest.update(data)
                dst.write(data)
            data = compressor.flush()
            digest.update(data)
            dst.write(data)
        header: dict[str, Any] = {
            "format": 1,
            "schema_version": SCHEMA_VERSION,
            "db_version": db.version,
            "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "key_id": key_id(key.public_key()),
            "payload_sha256": digest.hexdigest(),
            "payload_bytes": payload.stat().st_size,
            "database_bytes": snapshot.stat().st_size,
        }
        header["signature"] = base64.b64encode(key.sign(_signed_part(header))).decode()
        encoded = json.dumps(header, sort_keys=True).encode()
        partial = Path(tmp) / "bundle"
        with open(partial, "wb") as f, open(payload, "rb") as src:
            f.write(MAGIC + struct.pack(">I", len(encoded)) + encoded)
            while chunk := src.read(_CHUNK):
                f.write(chunk)
        os.replace(partial, out)
    return _info(header)


def is_bundle(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_header(f: BinaryIO) -> dict[str, Any]:
    if f.read(len(MAGIC)) != MAGIC:
        raise BundleError("not a Vigil advisory bundle")
    (length,) = struct.unpack(">I", f.read(4).rjust(4, b"\0"))
    if not 0 < length <= MAX_HEADER:
        raise BundleError("damaged bundle header")
    try:
        header = json.loads(f.read(length))
    except ValueError as exc:
        raise BundleError("damaged bundle header") from exc
    if not isinstance(header, dict) or header.get("format") != 1:
        raise BundleError("unsupported bundle format")
    return header


def verify_header(header: dict[str, Any], trusted: list[Ed25519PublicKey]) -> None:
    """Refuse a header whose signature no trusted key made."""
    if not trusted:
        raise BundleError(
            "no trusted public key given: a bundle is only imported when its signature verifies"
        )
    try:
        signature = base64.b64decode(header["signature"], validate=True)
    except (KeyError, ValueError) as exc:
        raise BundleError("bundle is not signed") from exc
    for public in trusted:
        try:
            public.verify(signature, _signed_part(header))
            return
        except InvalidSignature:
            continue
    raise BundleError(f"bad signature: bundle signed by key {header.get('key_id')!r}, which is not trusted")


def import_bundle(bundle: Path, target: Path, trusted: list[Ed25519PublicKey]) -> BundleInfo:
    """Verify `bundle` and replace the database at `target` with its content; nothing changes on error."""
    with open(bundle, "rb") as f:
        header = read_header(f)
        verify_header(header, trusted)
        if header.get("schema_version") != SCHEMA_VERSION:
            raise BundleError(
                f"bundle has database schema {header.get('schema_version')}, not {SCHEMA_VERSION}"
            )
        expected_db_bytes = int(header["database_bytes"])
        if expected_db_bytes > MAX_DATABASE_BYTES:
            raise BundleError("bundle claims an implausibly large database")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".bundle-", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _decompress(f, out, header, expected_db_bytes)
            _check_database(tmp)
            _replace_database(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return _info(header)


def _decompress(f: BinaryIO, out: BinaryIO, header: dict[str, Any], limit: int) -> None:
    """Stream the payload out, a chunk at a time, never past the size the signed header states."""
    digest = hashlib.sha256()
    decompressor = lzma.LZMADecompressor()
    written = 0
    try:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            data = decompressor.decompress(chunk, _CHUNK)
            while True:
                written += len(data)
                if written > limit:
                    raise BundleError("payload decompresses to more than the header says")
                out.write(data)
                if decompressor.eof or decompressor.needs_input:
                    break
                data = decompressor.decompress(b"", _CHUNK)
    except (lzma.LZMAError, EOFError) as exc:
        raise BundleError(f"damaged payload: {exc}") from exc
    if digest.hexdigest() != header.get("payload_sha256"):
        raise BundleError("payload digest mismatch: the bundle is damaged or was altered")
    if not decompressor.eof or written != limit:
        raise BundleError("truncated payload")


def _check_database(path: Path) -> None:
    try:
        db = sqlite3.connect(path)
        try:
            (result,) = db.execute("PRAGMA integrity_check").fetchone()
            (schema,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BundleError(f"bundle payload is not an advisory database: {exc}") from exc
    if result != "ok" or int(schema) != SCHEMA_VERSION:
        raise BundleError(f"bundle database failed its integrity check: {result}")


def _replace_database(new: Path, target: Path) -> None:
    """Swap in the new database: the old one's WAL is folded in and removed first, so nothing mixes."""
    if target.exists():
        old = sqlite3.connect(target)
        try:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            old.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(new, target)


def _info(header: dict[str, Any]) -> BundleInfo:
    return BundleInfo(
        db_version=int(header["db_version"]),
        created_at=str(header["created_at"]),
        key_id=str(header["key_id"]),
        payload_sha256=str(header["payload_sha256"]),
        payload_bytes=int(header["payload_bytes"]),
        database_bytes=int(header["database_bytes"]),
    )
