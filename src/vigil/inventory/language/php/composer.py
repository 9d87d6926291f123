"""Composer packages: what `vendor/composer/installed.json` says is installed, and `composer.lock`.

`installed.json` is Composer's own record of the `vendor/` directory: a list of packages (Composer 1) or
`{"packages": [...]}` (Composer 2). `composer.lock` pins a project's `packages` and `packages-dev`. A
package is `vendor/name` with the version as Composer wrote it (`v5.4.2` keeps its `v`: the Packagist
version scheme compares it). Metapackages are kept, as osv-scalibr keeps them (`sentry/sdk` is one, and
advisories can name them); `dev-*` branches are reported with a note, as no released version names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl

MAX_COMPOSER_FILE = 32 << 20  # a large application's installed.json is a few MiB


def _load(file: FoundFile) -> Any:
    try:
        return json.loads(file.read(MAX_COMPOSER_FILE))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExtractError(f"{file.path}: not JSON: {exc}") from exc


def _packages(
    records: Any,
    field: str,
    file: FoundFile,
    ctx: ExtractContext,
    extractor: str,
    dev: bool | frozenset[str] = False,
) -> list[Package]:
    """`dev`: every record is a development dependency, or the names of those that are."""
    if records is None:
        return []
    if not isinstance(records, list):
        raise ExtractError(f"{file.path}: `{field}` is not a list")
    packages = []
    for index, record in enumerate(records, 1):
        if not isinstance(record, dict):
            ctx.error(file.path, f"{field}[{index}]: not an object")
            continue
        name, version = record.get("name"), record.get("version")
        if not (isinstance(name, str) and isinstance(version, str) and name and version):
            ctx.error(file.path, f"{field}[{index}]: no name or version")
            continue
        vendor, _, project = name.partition("/")
        is_dev = name in dev if isinstance(dev, frozenset) else dev
        notes: tuple[str, ...] = ("a development dependency",) if is_dev else ()
        if version.startswith("dev-") or version.endswith("-dev"):
            notes += ("a development branch, not a released version",)
        packages.append(
            Package(
                name=name,
                version=version,
                type="composer",
                package_manager="COMPOSER",
                purl=language_purl("composer", project or vendor, version, vendor if project else None),
                extractor=extractor,
                locations=(file.path,),
                notes=notes,
            )
        )
    return packages


class ComposerInstalledExtractor:
    """Packages Composer installed into a `vendor/` directory (COMPOSER)."""

    name: ClassVar[str] = "language/php/installed"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=("/vendor/composer/installed.json",))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        data = _load(file)
        if isinstance(data, list):  # Composer 1
            return _packages(data, "packages", file, ctx, self.name)
        if isinstance(data, dict) and "packages" in data:  # Composer 2
            dev_names = data.get("dev-package-names")
            dev = (
                frozenset(n for n in dev_names if isinstance(n, str))
                if isinstance(dev_names, list)
                else False
            )
            return _packages(data["packages"], "packages", file, ctx, self.name, dev)
        raise ExtractError(f"{file.path}: neither a list nor an object with `packages`: not installed.json")


class ComposerLockExtractor:
    """Packages a project's `composer.lock` pins (COMPOSER)."""

    name: ClassVar[str] = "language/php/composer-lock"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({"composer.lock"}))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        data = _load(file)
        if not isinstance(data, dict):
            raise ExtractError(f"{file.path}: not a JSON object: not a composer.lock")
        return _packages(data.get("packages"), "packages", file, ctx, self.name) + _packages(
            data.get("packages-dev"), "packages-dev", file, ctx, self.name, dev=True
        )
