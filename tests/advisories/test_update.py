"""`vigil db update` against a real HTTP server on loopback: conditional, resumable, never half-applied."""

from __future__ import annotations

import gzip
import io
import json
import os
import time
import zipfile
import zlib

import httpx
import pytest
from tests.advisories.cli import assert_one_line_error, vigil
from tests.advisories.feedserver import FeedServer
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories.download import Downloader
from vigil.advisories.feeds import IMPORTERS
from vigil.advisories.service import update_feeds
from vigil.advisories.store import AdvisoryDB
from vigil.advisories.update import Feed, update_feed

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
    with db._transaction() as connection:  # as if the feed had held a hundred records until now
        connection.execute("UPDATE sources SET records = 100 WHERE name = 'osv-almalinux'")
    result = _update(db, feed, tmp_path)
    assert result.status == "failed" and "looks truncated" in result.detail


def test_the_cli_updates_from_a_feeds_file(server, tmp_path):
    url = server.serve("/AlmaLinux/all.zip", _zip(ALMA))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - name: osv-almalinux\n    url: {url}\n    importer: osv\n    licence: MIT\n"
    )
    run = vigil("db", "update", "--db", tmp_path / "cli.db", "--feeds", feeds)
    assert run.exit_code == 0, run.stderr
    assert "osv-almalinux: updated" in run.stdout and "database version 1 at" in run.stdout


def _bounded_update(db, feed, tmp_path, *, timeout=10.0, retries=0):
    with httpx.Client(timeout=timeout) as client:
        downloader = Downloader(client, tmp_path / "cache", retries=retries, backoff=0.01, timeout=timeout)
        return update_feed(db, feed, downloader, IMPORTERS)


def _cached_bytes(tmp_path) -> int:
    return (
        sum(p.stat().st_size for p in (tmp_path / "cache").glob("*")) if (tmp_path / "cache").exists() else 0
    )


def test_an_endless_body_stops_at_the_feeds_byte_limit(server, db, tmp_path):
    url = server.serve("/AlmaLinux/all.zip", bytes(1 << 16), endless=True)
    feed = Feed("osv-almalinux", url, "osv", "MIT", max_bytes=1 << 20)
    result = _bounded_update(db, feed, tmp_path, retries=2)
    assert (
        result.status == "failed"
        and f"more than {1 << 20} bytes sent: over the feed's limit" in result.detail
    )
    assert len(server.requests) == 1  # a broken limit is not retried
    assert _cached_bytes(tmp_path) == 0 and db.version == 0


def test_a_gzip_bomb_stops_at_the_feeds_inflated_limit(server, db, tmp_path):
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 KiB on the wire, 64 MiB inflated
    url = server.serve("/AlmaLinux/all.zip", bomb, encoding="gzip")
    feed = Feed("osv-almalinux", url, "osv", "MIT", max_inflated_bytes=4 << 20)
    result = _bounded_update(db, feed, tmp_path)
    assert result.status == "failed" and f"inflates to more than {4 << 20} bytes" in result.detail
    assert _cached_bytes(tmp_path) == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_content_encoded_feed_is_inflated_and_imported(server, db, tmp_path, encoding):
    body = _zip(ALMA)
    encoded = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    url = server.serve("/AlmaLinux/all.zip", encoded, encoding=encoding)
    result = _bounded_update(db, Feed("osv-almalinux", url, "osv", "MIT"), tmp_path)
    assert result.status == "updated" and db.source("osv-almalinux").records == len(ALMA)


def test_the_timeout_covers_the_whole_body_of_a_server_that_drips(server, db, tmp_path):
    url = server.serve("/AlmaLinux/all.zip", b"PK", endless=True, trickle=0.01)
    started = time.monotonic()
    result = _bounded_update(db, Feed("osv-almalinux", url, "osv", "MIT"), tmp_path, timeout=0.5)
    assert result.status == "failed" and "the download took longer than 0.5 s" in result.detail
    assert time.monotonic() - started < 5  # each read returned in time: only a whole-body bound stops it


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_record_nested_too_deeply_is_skipped_and_later_feeds_still_update(server, tmp_path):
    deep = json.loads(ALMA[0].read_text())
    records = {p.name: p.read_bytes() for p in ALMA[1:]}
    records["deep.json"] = (
        json.dumps(deep).replace('"summary": ', f'"summary": {_deep(100_000)}, "x": ').encode()
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in records.items():
            archive.writestr(name, data)
    feeds = [
        Feed("osv-almalinux", server.serve("/AlmaLinux/all.zip", buffer.getvalue()), "osv", "MIT"),
        Feed("kev", server.serve("/kev.json", IMPORTER_FIXTURES / "kev" / "known_exploited_vulnerabilities.subset.json"),
             "kev", "CC0-1.0", kind="enrichment"),
    ]  # fmt: skip
    results = update_feeds(tmp_path / "advisories.db", feeds, cache_dir=tmp_path / "cache", retries=0)
    assert [r.status for r in results] == ["updated", "updated"]
    assert f"{len(ALMA) - 1} added" in results[0].detail and "1 unreadable records" in results[0].detail
    with AdvisoryDB(tmp_path / "advisories.db", readonly=True) as db:
        assert db.kev("CVE-2025-48384") is not None


FEEDS_FILES = {
    "not YAML": ("feeds: [osv, {", "not valid YAML"),
    "no list": ("feeds: 3\n", "expected a list of feeds"),
    "an entry that is a string": ("feeds:\n  - osv-almalinux\n", "feed 1 is not a mapping"),
    "no url": ("feeds:\n  - name: a\n    importer: osv\n", "feed 1 lacks url"),
    "not http": ("feeds:\n  - {name: a, url: 'file:///etc/passwd', importer: osv}\n", "is not http(s)"),
    "unknown importer": ("feeds:\n  - {name: a, url: 'https://a.invalid/x', importer: nope}\n", "no importer named 'nope'"),
    "limit not a number": (
        "feeds:\n  - {name: a, url: 'https://a.invalid/x', importer: osv, max_bytes: lots}\n",
        "`max_bytes` is not a positive number of bytes",
    ),
    "two feeds of one name": (
        "feeds:\n  - {name: a, url: 'https://a.invalid/x', importer: osv}\n"
        "  - {name: a, url: 'https://a.invalid/y', importer: osv}\n",
        "feed names listed twice: a",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", FEEDS_FILES)
def test_a_malformed_feeds_file_is_one_clear_line(tmp_path, case):
    text, message = FEEDS_FILES[case]
    (tmp_path / "feeds.yaml").write_text(text)
    result = vigil("db", "update", "--db", tmp_path / "a.db", "--feeds", tmp_path / "feeds.yaml")
    assert_one_line_error(result, f"{tmp_path / 'feeds.yaml'}: ", message)
    assert not (tmp_path / "a.db").exists()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["missing", "folder", "fifo"])
def test_an_unreadable_feeds_file_is_one_clear_line(tmp_path, kind):
    feeds = tmp_path / "feeds.yaml"
    if kind == "folder":
        feeds.mkdir()
    elif kind == "fifo":
        os.mkfifo(feeds)
    result = vigil("db", "update", "--db", tmp_path / "a.db", "--feeds", feeds)
    assert_one_line_error(result, f"{feeds}: cannot read the feeds file")
