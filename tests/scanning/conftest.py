"""A fleet service in a test: the store (SQLite and PostgreSQL), an injected clock, fakes of the accounts and
findings services, real Debian images (built once per session) and an advisory database of real records."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.scanning.fleetkit import (
    VPN_PACKAGES,
    WEB_PACKAGES,
    FakeAccounts,
    FakeClock,
    RecordingFindings,
    advisories_without_curl_fix,
    debian_image,
)

from vigil.advisories.store import AdvisoryDB
from vigil.scanning.executor import InlineExecutor
from vigil.scanning.scheduler import Scheduler
from vigil.scanning.services import FleetServices
from vigil.store.engine import session_factory


@pytest.fixture(scope="session")
def machine_images(image_cache) -> dict[str, Path]:
    """`web` (curl 7.74.0-1.3+deb11u5) and `vpn` (libreswan 4.3-1+deb11u2): Debian 11 qcow2 disks."""
    folder = image_cache.get(
        "scanning-machines-v1",
        lambda d: (debian_image(d, "web", WEB_PACKAGES), debian_image(d, "vpn", VPN_PACKAGES)),
    )
    return {name: folder / f"{name}.qcow2" for name in ("web", "vpn")}


@pytest.fixture
def fleet_dir(tmp_path, machine_images) -> Path:
    """A folder for fleet files, holding copies of the machine images under `images/`."""
    folder = tmp_path / "fleet"
    (folder / "images").mkdir(parents=True)
    for name, image in machine_images.items():
        shutil.copyfile(image, folder / "images" / f"{name}.qcow2")
    return folder


@pytest.fixture
def advisories(tmp_path) -> tuple[AdvisoryDB, Path]:
    db, listing = advisories_without_curl_fix(tmp_path / "advisories")
    yield db, listing
    db.close()


@dataclass
class World:
    services: FleetServices
    executor: InlineExecutor
    scheduler: Scheduler
    clock: FakeClock
    accounts: FakeAccounts
    findings: RecordingFindings
    advisories: AdvisoryDB
    listing: Path
    snapshots: Path


@pytest.fixture
def world(store_engine, advisories, tmp_path) -> World:
    """The fleet's services on a migrated store, run by an inline executor."""
    clock, accounts, findings = FakeClock(), FakeAccounts(), RecordingFindings()
    db, listing = advisories
    snapshots = tmp_path / "snapshots"
    services = FleetServices(
        session_factory(store_engine),
        clock,
        accounts,
        findings,
        db,
        snapshots_dir=snapshots,
        region="us-east-1",
    )
    executor = InlineExecutor(services)
    return World(
        services, executor, Scheduler(services, executor), clock, accounts, findings, db, listing, snapshots
    )
