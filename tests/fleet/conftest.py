"""The fleet tests use the scanning tests' machines, fleet folders and services."""

from tests.scanning.conftest import advisories, fleet_dir, machine_images, world

__all__ = ["advisories", "fleet_dir", "machine_images", "world"]
