"""Installed Python distributions: the metadata file pip, setuptools and Debian leave in site-packages.

What marks an installed distribution (PyPA "Recording installed projects"; setuptools' egg formats):
- `<name>-<version>.dist-info/METADATA`: pip and every wheel installer, and Debian's newer python3-*
  packages;
- `<name>.egg-info/PKG-INFO`: `setup.py install`, editable installs, most Debian python3-* packages;
- `<name>.egg-info` as a single PKG-INFO-format file: distutils, and some Debian packages (python3-rpm);
- `<name>.egg/EGG-INFO/PKG-INFO`: an unzipped egg (easy_install);
- `<name>.egg` as a zip archive holding `EGG-INFO/PKG-INFO`: a zipped egg (easy_install, `bdist_egg`).

This covers system site-packages, virtualenvs and `pip --target` trees alike: the metadata is the same
wherever the tree is. Wheels (`.whl`) are not installed distributions and are not read.

The purl names the distribution as the index does (PEP 503 normalised); `name` is what the metadata
declares. A distribution installed by an OS package is marked by the collector through its location
(the metadata file, which the OS package lists).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.python.egg import egg_headers
from vigil.inventory.language.python.metadata import MetadataError, parse_distribution, read_header_block
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl


class PythonInstalledExtractor:
    name: ClassVar[str] = "language/python/installed"
    version: ClassVar[int] = 2  # 2: zipped eggs
    wants: ClassVar[Wants] = Wants(
        suffixes=(".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg/EGG-INFO/PKG-INFO", ".egg-info", ".egg")
    )

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        zipped = file.path.lower().endswith(".egg")
        with file.open() as f:
            headers = egg_headers(f, file.path) if zipped else read_header_block(f)
        if headers is None:
            return []
        try:
            dist = parse_distribution(headers)
        except MetadataError as exc:
            raise ExtractError(f"{file.path}: {exc}") from exc
        return [
            Package(
                name=dist.name,
                version=dist.version,
                type="pypi",
                package_manager=PackageManager.PYTHONPKG,
                purl=language_purl("pypi", dist.normalized_name, dist.version),
                extractor=self.name,
                locations=(file.path,),
            )
        ]
