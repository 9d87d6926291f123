"""Inventories collected elsewhere: an Inventory JSON (what the agent sends) or an SBOM of any tool.

`vigil scan` and `vigil inventory` take such a file wherever they take a tree or a disk image.
"""

from __future__ import annotations

import os
import stat

from vigil.inventory.document import InvalidInventory, read_inventory
from vigil.inventory.model import SCHEMA, Inventory

MAX_DOCUMENT_BYTES = 128 << 20  # a Syft SBOM of a large host, with its CPE lists, is tens of MB
_SNIFF = 4096


class UnreadableDocument(ValueError):
    """The file is not an Inventory JSON or an SBOM Vigil reads, or cannot be read; the message says why."""


def is_document(path: str) -> bool:
    """Whether `path` is a JSON document (a disk image never starts with `{`)."""
    try:
        data = _read_regular(path, _SNIFF, whole=False)
    except (OSError, UnreadableDocument):
        return False
    return data.lstrip()[:1] == b"{"


def read_document(path: str) -> Inventory:
    """The inventory an Inventory JSON, a CycloneDX JSON or an SPDX JSON document describes."""
    from pydantic_core import from_json

    from vigil.inventory.sbom.read import read_cyclonedx, read_spdx

    raw = _read_regular(path, MAX_DOCUMENT_BYTES, whole=True)
    try:
        data = from_json(raw)
    except ValueError as exc:
        raise UnreadableDocument(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UnreadableDocument(f"{path}: not an Inventory or SBOM document (expected a JSON object)")
    try:
        if data.get("schema") == SCHEMA:
            return read_inventory(data)
        if data.get("bomFormat") == "CycloneDX":
            return read_cyclonedx(data, path)
        if isinstance(data.get("spdxVersion"), str):
            return read_spdx(data, path)
    except InvalidInventory as exc:
        raise UnreadableDocument(f"{path}: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise UnreadableDocument(f"{path}: not a readable SBOM: {exc}") from None
    raise UnreadableDocument(
        f"{path}: a JSON document, but neither a Vigil Inventory, a CycloneDX nor an SPDX document"
    )


def _read_regular(path: str, limit: int, *, whole: bool) -> bytes:
    """Up to `limit` bytes of a regular file (checked on the opened descriptor: a FIFO never hangs)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableDocument(f"{path}: not a regular file")
        if whole and info.st_size > limit:
            raise UnreadableDocument(f"{path}: {info.st_size:,} bytes: at most {limit:,} are read")
        with open(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if whole and len(data) > limit:
        raise UnreadableDocument(f"{path}: more than {limit:,} bytes")
    return data


__all__ = ["MAX_DOCUMENT_BYTES", "UnreadableDocument", "is_document", "read_document"]
