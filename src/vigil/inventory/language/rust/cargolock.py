"""`Cargo.lock`: the exact crate versions a Rust project builds with.

Each `[[package]]` table has a `name`, a `version` and, unless the crate is a path dependency or a
workspace member, a `source`: `registry+<index>` (crates.io is always written as
`registry+https://github.com/rust-lang/crates.io-index`, whatever protocol fetched it), `sparse+<index>`
for another sparse registry, `git+<url>#<commit>`.

Reported: crates from crates.io; crates from another registry or git too, with a note, since a mirror or
fork of a crates.io crate is affected by its advisories more often than not. Not reported: crates without
a source, the project's own crates, which no advisory database names (and which would match a crates.io
crate's advisories when they share its name).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import ClassVar

from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.rust.crate import crate_package
from vigil.inventory.model import Package

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
MAX_LOCKFILE = 8 << 20  # a large workspace's lock file is around 1 MiB


def source_notes(source: str) -> tuple[str, ...]:
    if source == CRATES_IO:
        return ()
    kind, _, where = source.partition("+")
    if kind in ("registry", "sparse"):
        return (f"from the registry {where}, not crates.io",)
    if kind == "git":
        return (f"from the git repository {where}, not crates.io",)
    return (f"from source {source!r}, not crates.io",)


class CargoLockExtractor:
    name: ClassVar[str] = "language/rust/cargo-lock"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({"Cargo.lock"}))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        try:
            data = tomllib.loads(file.read(MAX_LOCKFILE).decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
            raise ExtractError(f"{file.path}: not a TOML lock file: {exc}") from exc
        records = data.get("package", [])
        if not isinstance(records, list):
            raise ExtractError(f"{file.path}: `package` is not an array of tables")
        packages = []
        for index, record in enumerate(records, 1):
            if not isinstance(record, dict):
                ctx.error(file.path, f"package {index}: not a table")
                continue
            name, version, source = record.get("name"), record.get("version"), record.get("source")
            if not (isinstance(name, str) and name and isinstance(version, str) and version):
                ctx.error(file.path, f"package {index}: no name or version")
                continue
            if source is None:
                continue  # a path dependency or workspace member: the project's own crate
            if not isinstance(source, str):
                ctx.error(file.path, f"package {name} {version}: `source` is not a string")
                continue
            packages.append(crate_package(name, version, file.path, self.name, source_notes(source)))
        return packages
