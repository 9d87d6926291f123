"""One Rust crate as an inventory package: `pkg:cargo/<name>@<version>`, Inspector's CARGO."""

from __future__ import annotations

from vigil.enums import PackageManager
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl


def crate_package(name: str, version: str, location: str, extractor: str, notes: tuple[str, ...]) -> Package:
    return Package(
        name=name,
        version=version,
        type="cargo",
        package_manager=PackageManager.CARGO,
        purl=language_purl("cargo", name, version),
        extractor=extractor,
        locations=(location,),
        notes=notes,
    )
