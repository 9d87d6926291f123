"""Installed npm packages: the `package.json` of each package directory under `node_modules`.

A `package.json` is an installed package's when its directory is a package slot: directly inside a
`node_modules` directory (`node_modules/a`, `node_modules/@scope/a`), nested as npm nests conflicting
versions (`node_modules/a/node_modules/b`), in pnpm's store (`node_modules/.pnpm/a@1.0.0/node_modules/a`),
or in Debian's global module directories (`/usr/share/nodejs/a`, `/usr/lib/nodejs/a`,
`/usr/lib/<triplet>/nodejs/a`, where Debian's node-* packages install). Every other `package.json` is
left unread: a package's own sub-directories (`dist/esm/package.json` declaring the module type), test
fixtures inside a package (`node_modules/a/test/node_modules/b`), and projects' own manifests.

Not reported, without an error (nothing to match): a package.json without a name or a version, and a
`"private": true` package, which npm never publishes, so no advisory names it, while a registry package
of the same name would match it wrongly. A package.json that is not JSON or has a name or version that is
not a string is an error for that file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.node.manifest import (
    MAX_MANIFEST,
    npm_package,
    parse_json,
    split_name,
    valid_version,
)
from vigil.inventory.model import Package

MANIFEST = "package.json"
_DEBIAN_ROOTS = (("usr", "share", "nodejs"), ("usr", "lib", "nodejs"))


def is_installed_manifest(path: str) -> bool:
    """Whether the `package.json` at `path` is an installed package's (see the module docstring)."""
    parts = path.split("/")
    if parts[-1] != MANIFEST:
        return False
    dirs = parts[1:-1]
    start = _install_root_end(dirs)
    return start is not None and _is_package_chain(dirs[start:])


def _install_root_end(dirs: Sequence[str]) -> int | None:
    """The index just past the outermost directory that holds installed packages."""
    for i, part in enumerate(dirs):
        if part == "node_modules":
            return i + 1
        if i == 2 and tuple(dirs[:3]) in _DEBIAN_ROOTS:
            return 3
        if i == 3 and part == "nodejs" and tuple(dirs[:2]) == ("usr", "lib"):
            return 4  # /usr/lib/x86_64-linux-gnu/nodejs: Debian's architecture-specific modules
    return None


def _is_package_chain(rest: Sequence[str]) -> bool:
    """`[@scope/]name` slots joined by `node_modules`, with pnpm's `.pnpm/<key>/node_modules` between."""
    i = 0
    while True:
        if i < len(rest) and rest[i] == ".pnpm":
            if i + 2 >= len(rest) or rest[i + 2] != "node_modules":
                return False
            i += 3
        if i < len(rest) and rest[i].startswith("@"):
            i += 1
        if i >= len(rest) or rest[i].startswith("."):
            return False
        i += 1
        if i == len(rest):
            return True
        if rest[i] != "node_modules":
            return False
        i += 1


class NodeInstalledExtractor:
    name: ClassVar[str] = "language/node/installed"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({MANIFEST}))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        if not is_installed_manifest(file.path):
            return []
        data = parse_json(file.read(MAX_MANIFEST), file.path)
        if not isinstance(data, dict):
            raise ExtractError(f"{file.path}: not a JSON object")
        name, version = data.get("name"), data.get("version")
        if name in (None, "") or version in (None, "") or data.get("private") is True:
            return []
        if not isinstance(name, str) or split_name(name) is None:
            raise ExtractError(f"{file.path}: name {str(name)[:80]!r} is not an npm package name")
        if not isinstance(version, str) or not valid_version(version):
            raise ExtractError(f"{file.path}: version {str(version)[:80]!r} of {name} is not a version")
        return [
            npm_package(
                name, version, package_manager=PackageManager.NODEPKG, extractor=self.name, location=file.path
            )
        ]
