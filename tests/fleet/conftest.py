"""The fleet tests use the scanning tests' machines, fleet folders and services, and an injected clock."""

import pytest
from tests.fleet.clock import Clock
from tests.scanning.conftest import (
    _migrated_postgresql,
    _migrated_sqlite,
    advisories,
    fleet_dir,
    fleet_engine,
    machine_images,
    world,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


__all__ = [
    "_migrated_postgresql",
    "_migrated_sqlite",
    "advisories",
    "fleet_dir",
    "fleet_engine",
    "machine_images",
    "world",
]
