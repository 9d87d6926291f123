"""What the npm extractors share: bounded JSON loading, npm package names, and the Package they make."""

from __future__ import annotations

import json
import re
from typing import Any

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractError
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl

MAX_MANIFEST = 4 << 20  # npm < 5 copied the README into installed package.json files: a few 100 KiB
MAX_NAME_LENGTH = 214  # npm's limit (validate-npm-package-name)
MAX_VERSION_LENGTH = 256
# `[@scope/]name`: no slash, backslash or white space inside a part, neither part starting with a dot
_NAME = re.compile(r"(?:@([^/\\\s.][^/\\\s]*)/)?([^/\\\s.@][^/\\\s]*)")
_GIT_COMMIT = re.compile(r"#([0-9a-f]{40})$")
_GIT_PREFIXES = ("git+", "git:", "github:", "gitlab:", "bitbucket:", "gist:")


def parse_json(data: bytes, path: str) -> Any:
    """The document; ExtractError for text that is not JSON or nests too deeply for the parser.

    Invalid UTF-8 is replaced rather than refused: npm writes UTF-8, and a damaged description must not
    cost the packages.
    """
    try:
        return json.loads(data.decode("utf-8-sig", "replace"))
    except (ValueError, RecursionError) as exc:
        raise ExtractError(f"{path}: not JSON: {exc}") from exc


def split_name(name: str) -> tuple[str | None, str] | None:
    """(scope without `@`, name) of a valid npm package name, None if it is not one.

    Valid names are also safe path components below `node_modules`: no empty, `.` or `..` part, no
    backslash, nothing starting with a dot. Old packages may have capitals, so those are allowed.
    """
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        return None
    match = _NAME.fullmatch(name)
    return (match.group(1), match.group(2)) if match else None


def valid_version(version: str) -> bool:
    return 0 < len(version) <= MAX_VERSION_LENGTH and version.isprintable() and " " not in version


def source_notes(source: str) -> tuple[str, ...]:
    """A caveat for a package that did not come from a registry: advisories name registry packages."""
    if source.startswith("file:"):
        return ("installed from a local file or folder, not a registry",)
    if source.startswith(_GIT_PREFIXES) or ".git#" in source:
        commit = _GIT_COMMIT.search(source)
        if commit:
            return (f"installed from git commit {commit.group(1)}, not a registry",)
        return ("installed from git, not a registry",)
    return ()


def npm_package(
    name: str,
    version: str,
    *,
    package_manager: PackageManager,
    extractor: str,
    location: str,
    notes: tuple[str, ...] = (),
) -> Package:
    """A package named as npm names it: `pkg:npm/%40scope/name@version` (purl names are lower case)."""
    parts = split_name(name)
    if parts is None:
        raise ValueError(f"{name!r} is not an npm package name")
    scope, bare = parts
    return Package(
        name=name,
        version=version,
        type="npm",
        package_manager=package_manager,
        purl=language_purl("npm", bare, version, f"@{scope.lower()}" if scope else None),
        extractor=extractor,
        locations=(location,),
        notes=notes,
    )
