"""An advisory database built from the real records the importer tests use."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.advisories.feeds import import_path
from vigil.advisories.store import AdvisoryDB

IMPORTER_FIXTURES = Path(__file__).parents[1] / "advisories" / "importers" / "fixtures"
SOURCES = (
    "debian/DSA-list",
    "debian/tracker.json",
    "osv/almalinux",
    "osv/pypi",
    "osv/ghsa",
    "osv/go",
    "osv/crates.io",
    "osv/ubuntu/usn",
    "osv/osv.dev-testdata/ubuntu",
    "alpine/secdb-json/vuln-list/3.18/main/busybox.json",
    "amazon/updateinfo/updateinfo_AL2023.xml.gz",
    "nvd",
    "kev/known_exploited_vulnerabilities.subset.json",
    "epss/example-1.csv",
    "csaf",
)


@pytest.fixture(scope="session")
def advisory_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("advisories") / "advisories.db"
    with AdvisoryDB(path) as db:
        for source in SOURCES:
            outcome = import_path(db, IMPORTER_FIXTURES / source)
            assert not outcome.errors, (source, outcome.errors[:3])
    db = AdvisoryDB(path, readonly=True)
    yield db
    db.close()
