"""npm lock files (`package-lock.json`, `npm-shrinkwrap.json`): every entry and where npm installs it.

- v2 and v3 (npm 7+): `packages` maps an install path relative to the lock file's directory
  (`node_modules/a/node_modules/@s/b`) to its entry; `""` is the project itself. An alias's entry has
  the real package's `name` (`node_modules/string-width-cjs` → `string-width`). A key outside any
  `node_modules` (`packages/a`, `deps/etag`) is a local folder: a workspace or `file:` dependency.
  `link: true` entries are the symlinks npm makes to such folders. v2 also keeps the v1 tree; `packages`
  wins.
- v1 (npm 5 and 6): `dependencies` nest as the directories do; the key is the folder name and `version`
  is a version, an alias (`npm:string-width@4.2.0`) or a source spec without a version (`file:…`,
  `git+ssh://…#<commit>`, `github:user/repo#<commit>`).

The parser only reads: which entries are installed and reported is `package_lock`'s decision. Every key
and v1 folder name is checked to be a plain relative path (no `..`, `.`, empty or absolute parts), so a
path built from it never leaves the lock file's directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.inventory.language.node.manifest import split_name

MAX_V1_DEPTH = 64  # npm 5+ flattens the tree; real v1 files nest a handful of levels
MAX_KEY_LENGTH = 4096
_NOT_NAMES = frozenset({"", ".", ".."})


class LockfileError(ValueError):
    """The document is not an npm lock file."""


@dataclass(frozen=True, slots=True)
class LockEntry:
    path: str  # where npm installs it, relative to the lock file's directory
    name: str  # the real package name (an alias's target)
    version: str  # "" when the lock file does not say (v1 file and git specs)
    source: str = ""  # `resolved`, or the v1 source spec when that stands in for the version
    local: bool = False  # not in a node_modules slot: the project's own folder (workspace, file: dep)
    link: bool = False  # a symlink to a local folder


def parse_lockfile(data: Any) -> tuple[list[LockEntry], list[str]]:
    """The entries, and the problems with single entries (which are skipped)."""
    if not isinstance(data, dict):
        raise LockfileError("not a JSON object")
    if "lockfileVersion" not in data:
        raise LockfileError("no lockfileVersion: not an npm lock file")
    packages = data.get("packages")
    if packages is not None:
        if not isinstance(packages, dict):
            raise LockfileError("`packages` is not an object")
        return _packages(packages)
    dependencies = data.get("dependencies") or {}
    if not isinstance(dependencies, dict):
        raise LockfileError("`dependencies` is not an object")
    return _dependencies(dependencies)


def key_parts(key: str) -> list[str] | None:
    """The components of a relative install path, None unless every one is a plain name."""
    if not key or len(key) > MAX_KEY_LENGTH or key.startswith("/") or "\\" in key or "\x00" in key:
        return None
    parts = key.split("/")
    return None if _NOT_NAMES.intersection(parts) else parts


def slot_name(parts: list[str]) -> str | None:
    """The folder name of a `node_modules/[@scope/]name` install path, None for a local folder."""
    if "node_modules" not in parts:
        return None
    rest = parts[len(parts) - parts[::-1].index("node_modules") :]
    if len(rest) == 1 and not rest[0].startswith("@"):
        return rest[0]
    if len(rest) == 2 and rest[0].startswith("@"):
        return f"{rest[0]}/{rest[1]}"
    return None


def _text(entry: Mapping[str, Any], field: str) -> str:
    value = entry.get(field)
    return value if isinstance(value, str) else ""


def _packages(packages: dict[str, Any]) -> tuple[list[LockEntry], list[str]]:
    entries: list[LockEntry] = []
    problems: list[str] = []
    for key, entry in packages.items():
        if key == "":
            continue
        parts = key_parts(key)
        if parts is None:
            problems.append(f"entry {key[:200]!r}: not a relative path inside the project; skipped")
            continue
        if not isinstance(entry, dict):
            problems.append(f"entry {key!r}: not an object; skipped")
            continue
        folder = slot_name(parts)
        # a local folder's name: its own, or its folder's, as npm would name it
        name = _text(entry, "name") or folder or _folder_name(parts)
        if split_name(name) is None:
            problems.append(f"entry {key!r}: {name[:200]!r} is not an npm package name; skipped")
            continue
        entries.append(
            LockEntry(
                path=key,
                name=name,
                version=_text(entry, "version"),
                source=_text(entry, "resolved"),
                local=folder is None,
                link=entry.get("link") is True,
            )
        )
    return entries, problems


def _folder_name(parts: list[str]) -> str:
    if len(parts) > 1 and parts[-2].startswith("@"):
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def _dependencies(dependencies: dict[str, Any]) -> tuple[list[LockEntry], list[str]]:
    entries: list[LockEntry] = []
    problems: list[str] = []
    stack: list[tuple[dict[str, Any], str, int]] = [(dependencies, "", 1)]
    while stack:
        level, prefix, depth = stack.pop()
        for folder, entry in level.items():
            path = f"{prefix}node_modules/{folder}"
            if split_name(folder) is None:
                problems.append(f"dependency {path[:200]!r}: not an npm package name; skipped")
                continue
            if not isinstance(entry, dict):
                problems.append(f"dependency {path!r}: not an object; skipped")
                continue
            entries.append(_v1_entry(path, folder, entry))
            nested = entry.get("dependencies")
            if isinstance(nested, dict) and nested:
                if depth >= MAX_V1_DEPTH:
                    problems.append(f"dependency {path!r}: nested over {MAX_V1_DEPTH} levels deep; not read")
                else:
                    stack.append((nested, f"{path}/", depth + 1))
    return entries, problems


def _v1_entry(path: str, folder: str, entry: dict[str, Any]) -> LockEntry:
    spec = _text(entry, "version")
    resolved = _text(entry, "resolved")
    if spec.startswith("npm:"):  # an alias: npm:<real name>@<version>
        real, at, version = spec[4:].rpartition("@")
        if at and real and split_name(real) is not None:
            return LockEntry(path, real, version, resolved)
    if ":" in spec or "/" in spec:  # a source spec, not a version
        return LockEntry(path, folder, "", resolved or spec)
    return LockEntry(path, folder, spec, resolved)
