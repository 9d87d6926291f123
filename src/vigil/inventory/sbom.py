"""SBOM export of an inventory: CycloneDX (1.4, 1.6) with cyclonedx-python-lib, SPDX 2.3 with spdx-tools.

Both libraries are imported only here, and only when an SBOM is asked for: they are slow to import.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from typing import Any

from vigil import __version__
from vigil.inventory.model import Inventory, Package

CYCLONEDX_VERSIONS = ("1.4", "1.6")


def _target_name(inventory: Inventory) -> str:
    return inventory.target.hostname or ", ".join(inventory.target.paths)


def _properties(package: Package) -> dict[str, str]:
    props = {"vigil:package_manager": package.package_manager, "vigil:extractor": package.extractor}
    if package.source_name and package.source_name != package.name:
        props["vigil:source_name"] = package.source_name
    if package.source_version and package.source_version != package.version:
        props["vigil:source_version"] = package.source_version
    if package.owner:
        props["vigil:owner"] = package.owner
    for i, location in enumerate(package.locations):
        props[f"vigil:location:{i}"] = location
    return props


def to_cyclonedx(inventory: Inventory, spec_version: str = "1.6") -> str:
    """The inventory as a CycloneDX JSON document; the OS is an `operating-system` component."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from packageurl import PackageURL

    if spec_version not in CYCLONEDX_VERSIONS:
        raise ValueError(f"CycloneDX {spec_version}: supported versions are {', '.join(CYCLONEDX_VERSIONS)}")
    bom = Bom()
    bom.metadata.component = Component(name=_target_name(inventory), type=ComponentType.DEVICE)
    if inventory.os:
        bom.components.add(
            Component(
                name=inventory.os.id,
                version=inventory.os.version_id,
                type=ComponentType.OPERATING_SYSTEM,
                description=inventory.os.name,
                cpe=inventory.os.cpe,
                bom_ref="os",
            )
        )
    for i, package in enumerate(inventory.packages):
        bom.components.add(
            Component(
                name=package.name,
                version=package.version,
                type=ComponentType.LIBRARY,
                purl=PackageURL.from_string(package.purl),
                bom_ref=f"pkg-{i}",
                properties=[Property(name=k, value=v) for k, v in _properties(package).items()],
            )
        )
    version = SchemaVersion.V1_6 if spec_version == "1.6" else SchemaVersion.V1_4
    out: str = make_outputter(bom, OutputFormat.JSON, version).output_as_string(indent=2)
    return out


def _spdx_id(i: int, name: str) -> str:
    return f"SPDXRef-Package-{i}-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)


def to_spdx(inventory: Inventory) -> str:
    """The inventory as an SPDX 2.3 JSON document (validated by spdx-tools before it is written)."""
    from spdx_tools.spdx.model.actor import Actor, ActorType
    from spdx_tools.spdx.model.document import CreationInfo, Document
    from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory
    from spdx_tools.spdx.model.package import Package as SpdxPackage
    from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
    from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
    from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

    name = _target_name(inventory)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    creation = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=f"vigil inventory of {name}",
        document_namespace=f"https://vigil.invalid/spdx/{uuid.uuid4()}",
        creators=[Actor(ActorType.TOOL, f"vigil-{__version__}")],
        created=created,
    )
    packages: list[Any] = []
    relationships: list[Any] = []
    for i, package in enumerate(inventory.packages):
        spdx_id = _spdx_id(i, package.name)
        packages.append(
            SpdxPackage(
                spdx_id=spdx_id,
                name=package.name,
                download_location=SpdxNoAssertion(),
                version=package.version,
                files_analyzed=False,
                source_info=f"found at {', '.join(package.locations)}" if package.locations else None,
                external_references=[
                    ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", package.purl)
                ],
            )
        )
        relationships.append(Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, spdx_id))
    document = Document(creation_info=creation, packages=packages, relationships=relationships)
    stream = io.StringIO()
    write_document_to_stream(document, stream, validate=True)
    return stream.getvalue()
