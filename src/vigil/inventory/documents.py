"""Inventories collected elsewhere: an Inventory JSON (what the agent sends) or an SBOM of any tool.

`vigil scan` and `vigil inventory` take such a file wherever they take a tree or a disk image.
"""

from __future__ import annotations

from vigil.fs.hostfile import open_regular, read_bounded
from vigil.inventory.document import InvalidInventory, read_inventory
from vigil.inventory.model import SCHEMA, Inventory

MAX_DOCUMENT_BYTES = 128 << 20  # a Syft SBOM of a large host, with its CPE lists, is tens of MB
_SNIFF = 4096


class UnreadableDocument(ValueError):
    """The file is not an Inventory JSON or an SBOM Vigil reads, or cannot be read; the message says why."""


def is_document(path: str) -> bool:
    """Whether `path` is a JSON document (a disk image never starts with `{`)."""
    try:
        stream, _ = open_regular(path)
        with stream:
            data = stream.read(_SNIFF)
    except OSError:
        return False
    return data.lstrip()[:1] == b"{"


def read_document(path: str) -> Inventory:
    """The inventory an Inventory JSON, a CycloneDX JSON or an SPDX JSON document describes."""
    from pydantic_core import from_json

    from vigil.inventory.sbom.read import read_cyclonedx, read_spdx

    try:
        raw = read_bounded(path, MAX_DOCUMENT_BYTES)
    except OSError as exc:
        raise UnreadableDocument(f"{path}: {exc.strerror or exc}") from None
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


__all__ = ["MAX_DOCUMENT_BYTES", "UnreadableDocument", "is_document", "read_document"]
