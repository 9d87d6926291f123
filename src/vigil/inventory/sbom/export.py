"""SBOM export of an inventory: CycloneDX (1.4, 1.6) with cyclonedx-python-lib, SPDX 2.3 with spdx-tools.

Every inventory field a purl cannot carry goes along as a `vigil:` property (`properties.py`), so that an
SBOM read back (`read.py`) is the inventory it was made from.

Both libraries are imported only here, and only when an SBOM is asked for: they are slow to import.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
import warnings
from typing import Any

from vigil import __version__
from vigil.inventory.model import Inventory
from vigil.inventory.sbom.properties import (
    kernel_properties,
    os_properties,
    package_properties,
    target_properties,
)

CYCLONEDX_VERSIONS = ("1.4", "1.6")


def _target_name(inventory: Inventory) -> str:
    return inventory.target.hostname or ", ".join(inventory.target.paths)


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
    document = target_properties(inventory.target, inventory.scope)
    if inventory.kernel:
        document += kernel_properties(inventory.kernel)
    bom.metadata.properties.update(Property(name=k, value=v) for k, v in document)
    if inventory.os:
        bom.components.add(
            Component(
                name=inventory.os.id,
                version=inventory.os.version_id,
                type=ComponentType.OPERATING_SYSTEM,
                description=inventory.os.name,
                cpe=inventory.os.cpe,
                bom_ref="os",
                properties=[Property(name=k, value=v) for k, v in os_properties(inventory.os)],
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
                properties=[Property(name=k, value=v) for k, v in package_properties(package)],
            )
        )
    version = SchemaVersion.V1_6 if spec_version == "1.6" else SchemaVersion.V1_4
    with warnings.catch_warnings():
        # "the Component this BOM is describing has no defined dependencies": an inventory has none to give
        warnings.simplefilter("ignore", UserWarning)
        out: str = make_outputter(bom, OutputFormat.JSON, version).output_as_string(indent=2)
    return out


def _spdx_id(i: int, name: str) -> str:
    return f"SPDXRef-Package-{i}-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)


def to_spdx(inventory: Inventory) -> str:
    """The inventory as an SPDX 2.3 JSON document (validated by spdx-tools before it is written)."""
    from spdx_tools.spdx.model.actor import Actor, ActorType
    from spdx_tools.spdx.model.annotation import Annotation, AnnotationType
    from spdx_tools.spdx.model.document import CreationInfo, Document
    from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory, PackagePurpose
    from spdx_tools.spdx.model.package import Package as SpdxPackage
    from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
    from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
    from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

    name = _target_name(inventory)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    tool = Actor(ActorType.TOOL, f"vigil-{__version__}")
    creation = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=f"vigil inventory of {name}",
        document_namespace=f"https://vigil.invalid/spdx/{uuid.uuid4()}",
        creators=[tool],
        created=created,
    )
    annotations: list[Any] = []

    def annotate(spdx_id: str, props: list[tuple[str, str]]) -> None:
        annotations.extend(
            Annotation(spdx_id, AnnotationType.OTHER, tool, created, f"{k}: {v}") for k, v in props
        )

    document_props = target_properties(inventory.target, inventory.scope)
    if inventory.kernel:
        document_props += kernel_properties(inventory.kernel)
    annotate("SPDXRef-DOCUMENT", document_props)
    packages: list[Any] = []
    relationships: list[Any] = []
    if inventory.os:
        packages.append(
            SpdxPackage(
                spdx_id="SPDXRef-OperatingSystem",
                name=inventory.os.id,
                download_location=SpdxNoAssertion(),
                version=inventory.os.version_id,
                files_analyzed=False,
                description=inventory.os.name,
                primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
            )
        )
        annotate("SPDXRef-OperatingSystem", os_properties(inventory.os))
        relationships.append(
            Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-OperatingSystem")
        )
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
        annotate(spdx_id, package_properties(package))
        relationships.append(Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, spdx_id))
    document = Document(
        creation_info=creation, packages=packages, relationships=relationships, annotations=annotations
    )
    stream = io.StringIO()
    write_document_to_stream(document, stream, validate=True)
    return stream.getvalue()
