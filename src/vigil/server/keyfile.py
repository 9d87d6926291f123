"""Secrets at rest: access keys' secrets sealed with AES-GCM under a key kept in a file of the server's DIR.

SigV4 verification needs each secret itself (a hash would not do), so the store keeps them encrypted: a copy
of the database alone (a backup, a PostgreSQL dump) reveals no secret. The sealed form binds each secret
to its access key id, so a secret moved to another key's row does not open.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = "v1"


class KeyFileError(ValueError):
    """The key file is missing, unreadable or not a key; or a sealed secret does not open with it."""


class KeyFile:
    """AES-256-GCM with the key in `path` (created 0600, never overwritten)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a secrets key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def create(cls, path: Path) -> KeyFile:
        key = secrets.token_bytes(KEY_BYTES)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(key)
        return cls(key)

    @classmethod
    def open(cls, path: Path) -> KeyFile:
        try:
            with path.open("rb") as file:
                key = file.read(KEY_BYTES + 1)
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read the secrets key: {exc.strerror or exc}") from exc
        try:
            return cls(key)
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {exc}") from exc

    def seal(self, secret: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), context.encode())
        return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def unseal(self, sealed: str, context: str) -> str:
        version, _, payload = sealed.partition(":")
        if version != VERSION:
            raise KeyFileError(f"a sealed secret of an unknown form ({version!r})")
        try:
            raw = base64.b64decode(payload, validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise KeyFileError(f"the secret of {context} does not open with this server's key file") from exc
