"""The fleet tests use the scanning tests' machines, fleet folders and services."""

from tests.scanning.conftest import (
    _migrated_postgresql,
    _migrated_sqlite,
    advisories,
    fleet_dir,
    fleet_engine,
    machine_images,
    world,
)

__all__ = [
    "_migrated_postgresql",
    "_migrated_sqlite",
    "advisories",
    "fleet_dir",
    "fleet_engine",
    "machine_images",
    "world",
]
