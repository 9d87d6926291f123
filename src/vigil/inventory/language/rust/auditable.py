"""Rust binaries built with cargo-auditable: the crate list in their `.dep-v0` section.

The section holds zlib-compressed JSON, `{"packages": [{"name", "version", "source", "kind",
"dependencies", "root"}]}` (rust-secure-code/cargo-auditable, PARSING.md and cargo-auditable.schema.json).
Decompression stops at 8 MiB of output, the bound cargo-auditable's own parser recommends: deflate
cannot expand more than about 1032:1, so the output cap also bounds the work a zlib bomb can cause.

What is reported:
- every crate compiled into the binary (`kind` runtime, the default), from crates.io, an alternative
  registry or git (the latter two noted: advisories name crates.io crates);
- not build-time dependencies (`kind: build`: build scripts, proc-macros and what only they use): their
  code runs while compiling and is not in the binary (Trivy leaves them out too);
- not `local` crates (path dependencies and workspace members, usually the program itself): no advisory
  database names them, and a local crate called like a crates.io crate would match that crate's
  advisories. A crates.io root (`cargo auditable install ripgrep`) is reported like any crates.io crate.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.elf import ElfFile
from vigil.inventory.language.rust.crate import crate_package
from vigil.inventory.model import Package

SECTION = ".dep-v0"
MAX_COMPRESSED = 2 << 20  # real audit data is a few KiB compressed
MAX_JSON = 8 << 20
_SOURCE_NOTES = {
    "crates.io": (),
    "registry": ("from an alternative registry, not crates.io",),
    "git": ("from a git repository, not crates.io",),
}


def read_audit_data(elf: ElfFile) -> list[dict[str, Any]] | None:
    """The package records of a cargo-auditable binary; None when it has no `.dep-v0` section."""
    section = elf.section(SECTION)
    if section is None:
        return None
    return parse_audit_json(inflate(elf.section_data(section, MAX_COMPRESSED)))


def inflate(data: bytes) -> bytes:
    """The JSON text; ExtractError past MAX_JSON bytes or for a damaged or truncated zlib stream."""
    stream = zlib.decompressobj()
    try:
        text = stream.decompress(data, MAX_JSON + 1)
    except zlib.error as exc:
        raise ExtractError(f"{SECTION}: not a zlib stream: {exc}") from exc
    if len(text) > MAX_JSON:
        raise ExtractError(f"{SECTION}: decompresses to more than {MAX_JSON} bytes")
    if not stream.eof:
        raise ExtractError(f"{SECTION}: the zlib stream is truncated")
    return text


def parse_audit_json(text: bytes) -> list[dict[str, Any]]:
    """The `packages` array, each record checked for the fields the inventory needs."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ExtractError(f"{SECTION}: not JSON: {exc}") from exc
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(packages, list):
        raise ExtractError(f"{SECTION}: no `packages` array")
    for index, record in enumerate(packages):
        if not isinstance(record, dict) or not all(
            isinstance(record.get(key), str) and record[key] for key in ("name", "version", "source")
        ):
            raise ExtractError(f"{SECTION}: package {index} lacks a name, version or source string")
    return packages


def auditable_packages(records: list[dict[str, Any]], location: str, extractor: str) -> list[Package]:
    """The crates compiled into the binary: runtime crates that are not local (see the module docstring)."""
    packages = []
    for record in records:
        source = record["source"]
        if record.get("kind", "runtime") == "build" or source == "local":
            continue
        notes = _SOURCE_NOTES.get(source, (f"from source {source!r}, not crates.io",))
        packages.append(crate_package(record["name"], record["version"], location, extractor, notes))
    return packages
