"""The use cases the scheduler and the API call, and the CLI printing exactly what they return."""

from __future__ import annotations

import json

from tests.advisories.cli import vigil
from tests.advisories.feedserver import FeedServer
from tests.advisories.test_update import ALMA, _zip
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories.service import database_status, import_paths, update_feeds
from vigil.advisories.store import AdvisoryDB
from vigil.advisories.update import Feed


def test_database_status_is_what_db_status_prints_as_json(tmp_path):
    results = import_paths(
        tmp_path / "a.db", [IMPORTER_FIXTURES / "osv" / "almalinux", IMPORTER_FIXTURES / "kev"]
    )
    assert [(r.path.name, [s.importer for s in r.sources]) for r in results] == [
        ("almalinux", ["osv"]),
        ("kev", ["kev"]),
    ]
    with AdvisoryDB(tmp_path / "a.db", readonly=True) as db:
        status = database_status(db)
    printed = json.loads(vigil("db", "status", "--db", tmp_path / "a.db", "--format", "json").stdout)
    assert printed == status.to_json()
    assert set(printed) == {"path", "version", "size_bytes", "counts", "sources", "releases"}
    assert set(printed["sources"][0]) == {"name", "url", "licence", "updated_at", "records", "errors"}
    assert (status.version, status.counts["advisories"], status.counts["kev"]) == (1, 4, 6)


def test_update_feeds_reports_each_feed_as_it_is_done(tmp_path):
    heard = []
    with FeedServer() as server:
        feeds = [
            Feed("osv-almalinux", server.serve("/AlmaLinux/all.zip", _zip(ALMA)), "osv", "MIT"),
            Feed("missing", server.base + "/nowhere.zip", "osv", "MIT"),
        ]
        results = update_feeds(tmp_path / "a.db", feeds, retries=0, progress=heard.append)
    assert [(r.feed, r.status) for r in results] == [("osv-almalinux", "updated"), ("missing", "failed")]
    assert heard == results and "server answered 404" in results[1].detail
    assert (tmp_path / "downloads").is_dir()  # beside the database unless told otherwise
