"""A fleet service in a test: the store (SQLite and PostgreSQL), an injected clock, fakes of the accounts and
findings services, real Debian images (built once per session) and an advisory database of real records."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from tests.scanning.fleetkit import (
    UNKNOWN_OS,
    VPN_PACKAGES,
    WEB_PACKAGES,
    FakeAccounts,
    FakeClock,
    RecordingFindings,
    advisories_without_curl_fix,
    debian_image,
)
from tests.support.store import POSTGRES_ADMIN

from vigil.advisories.store import AdvisoryDB
from vigil.scanning.executor import InlineExecutor
from vigil.scanning.scheduler import Scheduler
from vigil.scanning.services import FleetServices
from vigil.store.engine import make_engine, session_factory
from vigil.store.migrate import migrate
from vigil.store.models import Base


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite store, copied by each test that wants one (migrating costs more than copying)."""
    path = tmp_path_factory.mktemp("fleet-store") / "vigil.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _migrated_postgresql() -> Iterator[str]:
    """A PostgreSQL database of this worker's own, migrated once; each test starts from empty tables."""
    name = f"vigil_fleet_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fleet_engine(request, tmp_path) -> Iterator[Engine]:
    """An engine on an empty, migrated store: SQLite or PostgreSQL (the same tests run on both)."""
    if request.param == "sqlite":
        path = tmp_path / "vigil.db"
        shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), path)
        engine = make_engine(f"sqlite:///{path}")
    else:
        engine = make_engine(request.getfixturevalue("_migrated_postgresql"))
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def machine_images(image_cache) -> dict[str, Path]:
    """qcow2 disks: `web` (Debian 11, curl 7.74.0-1.3+deb11u5), `vpn` (Debian 11, libreswan 4.3-1+deb11u2),
    `unknown-os` (an OS Vigil has no advisories for), `btrfs` (Debian 11 on a filesystem Vigil cannot read)."""

    def build(folder: Path) -> None:
        debian_image(folder, "web", WEB_PACKAGES)
        debian_image(folder, "vpn", VPN_PACKAGES)
        debian_image(folder, "unknown-os", VPN_PACKAGES, os_release=UNKNOWN_OS)
        debian_image(folder, "btrfs", VPN_PACKAGES, filesystem="btrfs")

    folder = image_cache.get("scanning-machines-v3", build)
    return {p.stem: p for p in folder.glob("*.qcow2")}


@pytest.fixture
def fleet_dir(tmp_path, machine_images) -> Path:
    """A folder for fleet files, holding copies of the machine images under `images/`."""
    folder = tmp_path / "fleet"
    (folder / "images").mkdir(parents=True)
    for name, image in machine_images.items():
        shutil.copyfile(image, folder / "images" / f"{name}.qcow2")
    return folder


@pytest.fixture
def advisories(image_cache, tmp_path) -> tuple[AdvisoryDB, Path]:
    """A copy of the advisory database (built once per session) this test may update, and its DSA list."""
    built = image_cache.get("scanning-advisories-v2", advisories_without_curl_fix)
    folder = tmp_path / "advisories"
    shutil.copytree(built, folder, ignore=shutil.ignore_patterns(".*"))
    db = AdvisoryDB(folder / "advisories.db")
    yield db, folder / "DSA-list"
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
def world(fleet_engine, advisories, tmp_path) -> World:
    """The fleet's services on a migrated store, run by an inline executor."""
    clock, accounts, findings = FakeClock(), FakeAccounts(), RecordingFindings()
    db, listing = advisories
    snapshots = tmp_path / "snapshots"
    services = FleetServices(
        session_factory(fleet_engine),
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
