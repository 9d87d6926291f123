"""One Ruby gem as an inventory package: `pkg:gem/<name>@<version>`."""

from __future__ import annotations

from vigil.enums import PackageManager
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl


def gem_package(
    name: str,
    version: str,
    location: str,
    extractor: str,
    manager: PackageManager,
    notes: tuple[str, ...] = (),
) -> Package:
    return Package(
        name=name,
        version=version,
        type="gem",
        package_manager=manager,
        purl=language_purl("gem", name, version),
        extractor=extractor,
        locations=(location,),
        notes=notes,
    )
