"""SBOMs: Vigil's inventories written as CycloneDX or SPDX, and SBOMs of any tool read as inventories."""

from __future__ import annotations

from vigil.inventory.sbom.export import CYCLONEDX_VERSIONS, to_cyclonedx, to_spdx

__all__ = ["CYCLONEDX_VERSIONS", "to_cyclonedx", "to_spdx"]
