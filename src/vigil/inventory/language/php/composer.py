"""Composer packages: what `vendor/composer/installed.json` says is installed, and `composer.lock`.

`installed.json` is Composer's own record of the vendor directory: a list of packages (Composer 1) or
`{"packages": [...], "dev-package-names": [...]}` (Composer 2). It sits in `<vendor-dir>/composer/`, and
the vendor directory is not always `vendor` (`config.vendor-dir`: Nextcloud ships `3rdparty/`), so any
`composer/installed.json` is read and its shape checked. `composer.lock` pins a project's `packages` and
`packages-dev`.

A package is `vendor/name` with the version as Composer wrote it: `v1.8.1` keeps its `v`, as osv-scalibr,
Syft and Trivy report it (the Packagist version scheme compares it). Metapackages are kept, as osv-scalibr
keeps them (`sentry/sdk` is one, and advisories can name them); development dependencies and `dev-*`
branches are reported with a note.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any, ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl

MAX_COMPOSER_FILE = 16 << 20  # with hundreds of packages (Magento, Drupal), installed.json is a few MiB
DEV_DEPENDENCY = "a development dependency"
DEV_BRANCH = "a development branch, not a released version"


def _load(file: FoundFile) -> Any:
    if file.info.size > MAX_COMPOSER_FILE:
        raise ExtractError(f"{file.path}: {file.info.size} bytes, over the {MAX_COMPOSER_FILE}-byte limit")
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
    dev: Collection[str] | bool,
) -> list[Package]:
    """The packages of one list; `dev`: all of them are development dependencies, or the names of those."""
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
        notes: tuple[str, ...] = ()
        if dev is True or (not isinstance(dev, bool) and name in dev):
            notes += (DEV_DEPENDENCY,)
        if version.startswith("dev-") or version.endswith("-dev"):
            notes += (DEV_BRANCH,)
        packages.append(
            Package(
                name=name,
                version=version,
                type="composer",
                package_manager=PackageManager.COMPOSER,
                purl=language_purl("composer", project or vendor, version, vendor if project else None),
                extractor=extractor,
                locations=(file.path,),
                notes=notes,
            )
        )
    return packages


class ComposerInstalledExtractor:
    """Packages Composer installed into a vendor directory (COMPOSER)."""

    name: ClassVar[str] = "language/php/installed"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=("/composer/installed.json",))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        data = _load(file)
        if isinstance(data, list):  # Composer 1
            return _packages(data, "packages", file, ctx, self.name, dev=False)
        if isinstance(data, dict) and "packages" in data:  # Composer 2
            names = data.get("dev-package-names")
            dev = frozenset(n for n in names if isinstance(n, str)) if isinstance(names, list) else False
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
        return _packages(data.get("packages"), "packages", file, ctx, self.name, dev=False) + _packages(
            data.get("packages-dev"), "packages-dev", file, ctx, self.name, dev=True
        )
