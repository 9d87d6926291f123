"""Signed, compressed bundles of a whole advisory database, for air-gapped sites.

Layout: a magic line, a 4-byte header length, a JSON header (database version, creation time, payload
size and SHA-256, the signing key's id and an Ed25519 signature over the rest of the header), then the
payload: the SQLite database compressed with xz.

A bundle is verified before anything is written: signature, schema version, payload digest, SQLite
integrity, and a schema that is exactly Vigil's. Its rows are then copied into the live database in one
transaction (see `AdvisoryDB.replace_all`): the live file is never swapped, so its mode, its WAL, its
readers and any other writer waiting for the lock stay as they were. A bundle older than what is
installed (a rollback) is refused unless the caller allows a downgrade.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.advisories.files import open_regular, read_bounded
from vigil.advisories.schema import SCHEMA_VERSION, DatabaseError, foreign_objects
from vigil.advisories.staging import staging_file
from vigil.advisories.store import LOCK_TIMEOUT, AdvisoryDB

MAGIC = b"VIGIL-ADVISORY-BUNDLE/1\n"
MAX_HEADER = 64 << 10
MAX_KEY_BYTES = 64 << 10
MAX_DATABASE_BYTES = 64 << 30  # refuse to decompress a payload claiming more than this
_CHUNK = 1 << 20


class BundleError(ValueError):
    """The bundle is not a Vigil bundle, is damaged, is older than the database, or is not trusted."""


@dataclass(frozen=True, slots=True)
class BundleInfo:
    db_version: int
    created_at: str
    key_id: str
    payload_sha256: str
    payload_bytes: int
    database_bytes: int


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_key(private_path: Path, public_path: Path) -> str:
    """A new Ed25519 signing key (PEM, created owner-only) and its public half; returns the key id.

    Neither file may exist: a key is never overwritten, and the private key is 0600 from its creation on.
    """
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise BundleError(f"{path} exists: not overwriting a key")
    key = Ed25519PrivateKey.generate()
    _create(
        private_path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        0o600,
    )
    try:
        _create(
            public_path,
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            0o644,
        )
    except BaseException:
        private_path.unlink()  # no half pair left behind
        raise
    return key_id(key.public_key())


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a new file that is `mode` (less the umask) from the moment it exists; never an old one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file `path`, or a BundleError saying why not."""
    data = _key_bytes(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BundleError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file `path`, or a BundleError saying why not."""
    data = _key_bytes(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BundleError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path}: not an Ed25519 public key")
    return key


def _key_bytes(path: Path) -> bytes:
    try:
        return read_bounded(path, MAX_KEY_BYTES)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the key: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise BundleError(f"{path}: not a key ({exc})") from exc


def _signed_part(header: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in header.items() if k != "signature"}, sort_keys=True).encode()


def export_bundle(
    db: AdvisoryDB, out: Path, key: Ed25519PrivateKey, *, clock: Callable[[], dt.datetime] = _utcnow
) -> BundleInfo:
    """Write the whole database as one signed bundle at `out` (atomically)."""
    if not out.parent.is_dir():
        raise BundleError(f"{out.parent}: no such folder to write the bundle in")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vigil-export-") as tmp:
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
            "created_at": clock().astimezone(dt.UTC).replace(microsecond=0).isoformat(),
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
        with open_regular(path) as f:
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
    except (ValueError, RecursionError) as exc:
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
    except (KeyError, ValueError, TypeError) as exc:
        raise BundleError("bundle is not signed") from exc
    for public in trusted:
        try:
            public.verify(signature, _signed_part(header))
            return
        except InvalidSignature:
            continue
    raise BundleError(f"bad signature: bundle signed by key {header.get('key_id')!r}, which is not trusted")


def import_bundle(
    bundle: Path,
    target: Path,
    trusted: list[Ed25519PublicKey],
    *,
    allow_downgrade: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
) -> BundleInfo:
    """Verify `bundle`, then replace the content of the database at `target` with its own.

    Nothing changes on any error, and a bundle older than the database is refused unless
    `allow_downgrade`.
    """
    with open_regular(bundle) as f:
        header = read_header(f)
        verify_header(header, trusted)
        if header.get("schema_version") != SCHEMA_VERSION:
            raise BundleError(
                f"bundle has database schema {header.get('schema_version')}, not {SCHEMA_VERSION}"
            )
        info = _info(header)
        if info.database_bytes > MAX_DATABASE_BYTES:
            raise BundleError("bundle claims an implausibly large database")
        target.parent.mkdir(parents=True, exist_ok=True)
        with staging_file(target.parent, ".vigil-bundle-") as (tmp, out):
            _decompress(f, out, header, info.database_bytes)
            out.flush()
            _check_database(tmp)
            meta = {
                "bundle_created_at": info.created_at,
                "bundle_db_version": str(info.db_version),
                "bundle_key_id": info.key_id,
            }
            try:
                with AdvisoryDB(target, lock_timeout=lock_timeout) as db:
                    db.replace_all(tmp, meta, _rollback_guard(info, allow_downgrade))
            except DatabaseError as exc:
                raise BundleError(str(exc)) from exc
    return info


def _rollback_guard(info: BundleInfo, allow_downgrade: bool) -> Callable[[int, str | None], None]:
    """Refuses, under the write lock, a rollback: a bundle of an older database version than the one
    installed, or one created before the bundle installed last (both times are the exporter's clock)."""
    created = _utc(info.created_at)

    def check(version: int, installed_created_at: str | None) -> None:
        if allow_downgrade:
            return
        if info.db_version < version:
            raise BundleError(
                f"bundle holds database version {info.db_version}, older than the installed version "
                f"{version}: refused as a rollback (--allow-downgrade installs it anyway)"
            )
        if installed_created_at and created < _utc(installed_created_at):
            raise BundleError(
                f"bundle was created {info.created_at}, before the installed bundle "
                f"({installed_created_at}): refused as a rollback (--allow-downgrade installs it anyway)"
            )

    return check


def _utc(text: str) -> dt.datetime:
    """An ISO 8601 time; one without a zone is UTC, as Vigil writes every time."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


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
    """The payload is an intact SQLite file with exactly Vigil's schema: tables, indexes, nothing else."""
    try:
        db = sqlite3.connect(f"file:{path.absolute()}?mode=ro&immutable=1", uri=True)
        try:
            db.execute("PRAGMA trusted_schema=OFF")
            (result,) = db.execute("PRAGMA integrity_check").fetchone()
            foreign = foreign_objects(db, "main")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BundleError(f"bundle payload is not an advisory database: {exc}") from exc
    if result != "ok":
        raise BundleError(f"bundle database failed its integrity check: {result}")
    if foreign:
        raise BundleError(f"bundle database is not Vigil's schema: {'; '.join(foreign)}")
    if row is None or str(row[0]) != str(SCHEMA_VERSION):
        raise BundleError(f"bundle database has schema {row[0] if row else 'none'}, not {SCHEMA_VERSION}")


def _info(header: dict[str, Any]) -> BundleInfo:
    try:
        info = BundleInfo(
            db_version=int(header["db_version"]),
            created_at=str(header["created_at"]),
            key_id=str(header["key_id"]),
            payload_sha256=str(header["payload_sha256"]),
            payload_bytes=int(header["payload_bytes"]),
            database_bytes=int(header["database_bytes"]),
        )
        _utc(info.created_at)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"damaged bundle header: {exc}") from exc
    return info
