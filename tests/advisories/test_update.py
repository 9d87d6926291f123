"""`vigil db update` against a real HTTP server on loopback: conditional, resumable, never half-applied."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from tests.advisories.feedserver import FeedServer
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories.feeds import IMPORTERS
from vigil.advisories.store import AdvisoryDB
from vigil.advisories.update import Downloader, Feed, update_feed

ALMA = sorted((IMPORTER_FIXTURES / "osv" / "almalinux").rglob("*.json"))


def _zip(paths) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.writestr(path.name, path.read_bytes())
    return buffer.getvalue()


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


@pytest.fixture
def db(tmp_path):
    with AdvisoryDB(tmp_path / "advisories.db") as store:
        yield store


def _update(db, feed, tmp_path, retries=2):
    with httpx.Client(timeout=10) as client:
        return update_feed(
            db, feed, Downloader(client, tmp_path / "cache", retries=retries, backoff=0.01), IMPORTERS
        )


def test_first_update_then_not_modified_by_etag(server, db, tmp_path):
    url = server.serve("/AlmaLinux/all.zip", _zip(ALMA))
    feed = Feed("osv-almalinux", url, "osv", "MIT")
    first = _update(db, feed, tmp_path)
    assert first.status == "updated" and first.version == 1 and first.changed_keys > 0
    assert db.source("osv-almalinux").etag == server.routes["/AlmaLinux/all.zip"].etag
    second = _update(db, feed, tmp_path)
    assert second.status == "not-modified"
    assert server.requests[-1][1].get("If-None-Match") == server.routes["/AlmaLinux/all.zip"].etag
    assert db.version == 1


def test_a_download_cut_midway_is_resumed_with_a_range_request(server, db, tmp_path):
    body = _zip(ALMA)
    url = server.serve("/AlmaLinux/all.zip", body, cut_after=len(body) // 2, cut_times=1)
    result = _update(db, Feed("osv-almalinux", url, "osv", "MIT"), tmp_path)
    assert result.status == "updated"
    ranges = [headers.get("Range") for _, headers in server.requests]
    assert ranges[0] is None and ranges[1] == f"bytes={len(body) // 2}-"


def test_a_download_that_keeps_failing_leaves_the_database_as_it_was(server, db, tmp_path):
    body = _zip(ALMA)
    url = server.serve("/AlmaLinux/all.zip", body)
    feed = Feed("osv-almalinux", url, "osv", "MIT")
    assert _update(db, feed, tmp_path).status == "updated"
    server.serve("/AlmaLinux/all.zip", body + b"x", cut_after=100, cut_times=10, ranges=False)
    result = _update(db, feed, tmp_path, retries=2)
    assert result.status == "failed" and "database kept" in result.detail
    assert db.version == 1 and db.source("osv-almalinux").records == len(ALMA)


@pytest.mark.parametrize("garbage", [b"<html>503 Service Unavailable</html>", b"PK\x03\x04" + bytes(200)])
def test_garbage_never_replaces_a_good_database(server, db, tmp_path, garbage):
    url = server.serve("/AlmaLinux/all.zip", _zip(ALMA))
    feed = Feed("osv-almalinux", url, "osv", "MIT")
    _update(db, feed, tmp_path)
    server.serve("/AlmaLinux/all.zip", garbage)
    result = _update(db, feed, tmp_path)
    assert result.status == "failed" and "database kept" in result.detail
    assert db.version == 1 and len(db.lookup("almalinux:9", "xz-libs")) > 0


def test_a_server_error_is_retried_then_reported(server, db, tmp_path):
    url = server.serve("/AlmaLinux/all.zip", b"", status=503)
    result = _update(db, Feed("osv-almalinux", url, "osv", "MIT"), tmp_path, retries=1)
    assert result.status == "failed" and "503" in result.detail
    assert len(server.requests) == 2


def test_a_feed_that_suddenly_shrinks_looks_truncated_and_is_refused(server, db, tmp_path):
    url = server.serve("/AlmaLinux/all.zip", _zip(ALMA))
    feed = Feed("osv-almalinux", url, "osv", "MIT")
    _update(db, feed, tmp_path)
    server.serve("/AlmaLinux/all.zip", _zip(ALMA[:1]))
    with db._transaction():  # as if the feed had held a hundred records until now
        db._db.execute("UPDATE sources SET records = 100 WHERE name = 'osv-almalinux'")
    result = _update(db, feed, tmp_path)
    assert result.status == "failed" and "looks truncated" in result.detail


def test_the_cli_updates_from_a_feeds_file(server, tmp_path):
    import subprocess
    import sys

    url = server.serve("/AlmaLinux/all.zip", _zip(ALMA))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - name: osv-almalinux\n    url: {url}\n    importer: osv\n    licence: MIT\n"
    )
    db_path = tmp_path / "cli.db"
    run = subprocess.run(
        [sys.executable, "-m", "vigil", "db", "update", "--db", str(db_path), "--feeds", str(feeds)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "osv-almalinux: updated" in run.stdout
