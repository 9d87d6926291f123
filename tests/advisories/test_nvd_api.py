"""NVD's CVE API 2.0 as a feed, against a loopback server paging real NVD records.

The server answers as NVD does (`lastModified` windows, `startIndex` paging, NVD's envelope); the rate
limiter runs on a virtual clock whose sleeps advance it, so no test waits.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from vigil.advisories.download import Downloader
from vigil.advisories.feeds import IMPORTERS
from vigil.advisories.importers import nvd
from vigil.advisories.importers.nvd import NvdImporter
from vigil.advisories.sources.nvd_api import (
    AUTHENTICATED,
    EPOCH,
    MAX_WINDOW,
    UNAUTHENTICATED,
    Checkpoint,
    NvdOptions,
    NvdUpdater,
    RateLimit,
    RateLimiter,
)
from vigil.advisories.store import AdvisoryDB
from vigil.advisories.update import UPDATERS, Feed, update_feed

FIXTURES = Path(__file__).parent / "fixtures" / "nvd-api"
PATH = "/rest/json/cves/2.0"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def real_records() -> list[dict]:
    """The `vulnerabilities[]` entries of the real NVD responses."""
    return [
        item
        for path in sorted(FIXTURES.glob("*.json"))
        for item in json.loads(path.read_text())["vulnerabilities"]
    ]


def modified(item: dict) -> dt.datetime:
    return parse_time(item["cve"]["lastModified"])


def parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Catalogue:
    """CVE records in NVD's order, selected by `lastModified` window."""

    def __init__(self, items: Sequence[dict]) -> None:
        self.items = list(items)

    def select(self, start: dt.datetime, end: dt.datetime, index: int, size: int) -> tuple[int, list[str]]:
        chosen = sorted((i for i in self.items if start <= modified(i) <= end), key=lambda i: i["cve"]["id"])
        return len(chosen), [json.dumps(i) for i in chosen[index : index + size]]


@dataclass
class Request:
    params: dict[str, str]
    headers: dict[str, str]
    at: float  # on the virtual clock


@dataclass
class Fault:
    """An answer to serve instead of the page: a status with headers, or the page's body altered."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Callable[[bytes], bytes] | None = None
    times: int = 1


class FakeNvd:
    """NVD's CVE API on loopback."""

    def __init__(self, catalogue: Catalogue, clock: Callable[[], float] = lambda: 0.0) -> None:
        self.catalogue = catalogue
        self.clock = clock
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.before_page: Callable[[dict[str, str]], None] = lambda params: None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = dict(parse_qsl(url.query))
                server.requests.append(Request(params, dict(self.headers.items()), server.clock()))
                fault = server.faults[0] if server.faults else None
                if fault is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        server.faults.pop(0)
                if url.path != PATH:
                    self._send(404, b"")
                elif fault is not None and fault.status != 200:
                    self._send(fault.status, b"", fault.headers)
                else:
                    server.before_page(params)
                    body = server.page(params)
                    self._send(200, fault.body(body) if fault and fault.body else body)

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def page(self, params: dict[str, str]) -> bytes:
        start, end = parse_time(params["lastModStartDate"]), parse_time(params["lastModEndDate"])
        assert end - start <= MAX_WINDOW, "NVD refuses a range over 120 days"
        index, size = int(params.get("startIndex", 0)), int(params.get("resultsPerPage", 2000))
        total, items = self.catalogue.select(start, end, index, size)
        head = {"resultsPerPage": len(items), "startIndex": index, "totalResults": total, "format": "NVD_CVE",
                "version": "2.0", "timestamp": "2026-12-01T12:00:00.000"}  # fmt: skip
        return (json.dumps(head)[:-1] + ', "vulnerabilities": [' + ",".join(items) + "]}").encode()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def __enter__(self) -> FakeNvd:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class VirtualClock:
    """Monotonic seconds and wall time that move only when something sleeps."""

    def __init__(self, start: dt.datetime = NOW) -> None:
        self.start = start
        self.seconds = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.seconds += seconds

    def wall(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def catalogue():
    return Catalogue(real_records())


@pytest.fixture
def server(catalogue, clock):
    with FakeNvd(catalogue, clock) as running:
        yield running


@pytest.fixture
def recent(catalogue):
    """Every record last modified in November 2026: one window from October on holds them all."""
    for item in catalogue.items:
        item["cve"]["lastModified"] = "2026-11-20T10:00:00.000"


@pytest.fixture
def db(tmp_path):
    with AdvisoryDB(tmp_path / "advisories.db") as store:
        yield store


@pytest.fixture
def run(server, db, clock, tmp_path):
    """Run the updater once (a new process each time: a new updater, limiter and client)."""

    def run_once(**options):
        feed = Feed("nvd", server.url, "nvd", nvd.LICENCE, kind="enrichment", fetch="nvd-api")
        updater = NvdUpdater(NvdOptions(**options), clock=clock, sleep=clock.sleep, now=clock.wall)
        with httpx.Client(timeout=10) as client:
            return updater(db, feed, Downloader(client, tmp_path / "cache"), IMPORTERS)

    return run_once


def scores(db, cve):
    return sorted((c.version, c.vector, c.base_score, c.source) for c in db.cvss(cve))


def expected_scores() -> dict[str, list[tuple]]:
    """What the file importer reads from the same real responses, per CVE."""
    found: dict[str, list[tuple]] = {}
    for record in NvdImporter().read(FIXTURES, []):
        found.setdefault(record.cve, []).append(
            (record.version, record.vector, record.base_score, record.source)
        )
    return {cve: sorted(rows) for cve, rows in found.items()}


def windows(server) -> list[tuple[dt.datetime, dt.datetime]]:
    return [
        (parse_time(r.params["lastModStartDate"]), parse_time(r.params["lastModEndDate"]))
        for r in server.requests
    ]


def set_score(item: dict, score: float, when: dt.datetime) -> None:
    item["cve"]["lastModified"] = when.replace(tzinfo=None).isoformat(timespec="milliseconds")
    item["cve"]["metrics"]["cvssMetricV31"][0]["cvssData"]["baseScore"] = score


def record(catalogue, cve) -> dict:
    return next(i for i in catalogue.items if i["cve"]["id"] == cve)


# -- the initial load -----------------------------------------------------------------------------


def test_initial_load_reads_every_window_of_at_most_120_days_from_1999_to_now(run, server, db, clock):
    result = run()
    assert result.status == "updated"
    spans = windows(server)
    assert spans[0][0] == EPOCH and spans[-1][1] == NOW
    assert all(end - start <= MAX_WINDOW for start, end in spans)
    assert all(b[0] < a[1] for a, b in itertools.pairwise(spans)), "windows overlap: no gap"
    first = server.requests[0].params
    assert first == {
        "lastModStartDate": "1999-01-01T00:00:00.000+00:00",
        "lastModEndDate": "1999-05-01T00:00:00.000+00:00",
        "startIndex": "0",
        "resultsPerPage": "2000",
    }
    assert f"{len(spans)} windows, {len(spans)} pages, 15 CVEs updated" in result.detail
    assert "initial load complete" in result.detail


def test_the_scores_reach_what_scoring_reads(run, db):
    run()
    expected = expected_scores()
    assert len(expected) == 15
    for cve, rows in expected.items():
        assert scores(db, cve) == rows
    assert ("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8, "nvd@nist.gov") in scores(
        db, "CVE-2023-4863"
    )


def test_a_window_is_paged_by_start_index_up_to_total_results(run, server, db, catalogue, recent):
    result = run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), page_size=4)
    assert [r.params["startIndex"] for r in server.requests] == ["0", "4", "8", "12"]
    assert {r.params["resultsPerPage"] for r in server.requests} == {"4"}
    assert "1 windows, 4 pages, 15 CVEs updated" in result.detail
    assert len({c for c in expected_scores() if db.cvss(c)}) == 15


def test_the_api_key_goes_in_the_apiKey_header_and_none_is_sent_without_one(run, server):
    run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    assert "apiKey" not in server.requests[-1].headers
    run(api_key="k-123")
    assert server.requests[-1].headers["apiKey"] == "k-123"


def test_the_api_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("NVD_API_KEY", " k-456 ")
    options = NvdOptions.from_environment()
    assert options.api_key == "k-456" and options.rate_limit == AUTHENTICATED
    monkeypatch.delenv("NVD_API_KEY")
    assert NvdOptions.from_environment().rate_limit == UNAUTHENTICATED


# -- rate limits ----------------------------------------------------------------------------------


def most_in_any(times: list[float], seconds: float) -> int:
    return max(sum(t <= u < t + seconds for u in times) for t in times)


@pytest.mark.parametrize(("key", "limit"), [(None, 5), ("k", 50)])
def test_requests_keep_to_the_published_rate_limit(run, server, clock, key, limit):
    run(api_key=key)
    times = [r.at for r in server.requests]
    assert len(times) > 60
    assert most_in_any(times, 30.0) == limit
    assert clock.seconds == pytest.approx((len(times) - 1) * 30.0 / limit)


def test_the_limiter_spaces_requests_evenly():
    clock = VirtualClock()
    limiter = RateLimiter(RateLimit(5, 30.0), clock, clock.sleep)
    for _ in range(4):
        limiter.wait()
    assert clock.sleeps == [6.0, 6.0, 6.0]
    clock.sleep(20.0)  # a slow request: no need to wait again
    limiter.wait()
    assert clock.sleeps[-1] == 20.0


def test_a_429_with_retry_after_in_seconds_is_waited_out_then_retried(run, server, clock, recent):
    server.faults = [Fault(429, {"Retry-After": "17"})]
    result = run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    assert result.status == "updated"
    assert 17.0 in clock.sleeps
    assert server.requests[0].params == server.requests[1].params
    assert server.requests[1].at - server.requests[0].at == pytest.approx(17.0)


def test_a_403_with_retry_after_as_an_http_date_is_waited_out_then_retried(run, server, clock, recent):
    when = email.utils.format_datetime(NOW + dt.timedelta(seconds=40), usegmt=True)
    server.faults = [Fault(403, {"Retry-After": when})]
    result = run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    assert result.status == "updated"
    assert server.requests[1].at - server.requests[0].at == pytest.approx(40.0)


def test_without_retry_after_the_updater_backs_off_then_fails_keeping_its_progress(run, server, db, clock):
    first = run(max_requests=20)
    assert "initial load incomplete" in first.detail
    kept = db.source("nvd").etag
    server.faults = [Fault(503, times=5)]
    failed = run(retries=4, backoff=6.0)
    assert failed.status == "failed" and "503" in failed.detail and "progress kept" in failed.detail
    assert clock.sleeps[-4:] == [6.0, 12.0, 24.0, 48.0]
    assert db.source("nvd").etag == kept
    resumed = run()
    assert resumed.status == "updated" and "initial load complete" in resumed.detail
    assert server.requests[25].params == server.requests[20].params  # the page that failed, asked again


def test_a_retry_after_too_long_fails_at_once(run, server):
    server.faults = [Fault(429, {"Retry-After": "86400"})]
    result = run()
    assert result.status == "failed" and "86400" in result.detail
    assert len(server.requests) == 1


# -- bad pages ------------------------------------------------------------------------------------


def truncated(body: bytes) -> bytes:
    return body[: len(body) // 2]


def total_too_small(body: bytes) -> bytes:
    page = json.loads(body)
    page["totalResults"] = len(page["vulnerabilities"]) - 1
    return json.dumps(page).encode()


def wrong_start(body: bytes) -> bytes:
    page = json.loads(body)
    page["startIndex"] += 1
    return json.dumps(page).encode()


def one_entry_lost(body: bytes) -> bytes:
    page = json.loads(body)
    page["vulnerabilities"].pop()
    return json.dumps(page).encode()


def not_json(body: bytes) -> bytes:
    return b"<html>Service Unavailable</html>"


@pytest.mark.parametrize("damage", [truncated, not_json, total_too_small, wrong_start, one_entry_lost])
def test_a_bad_page_never_replaces_stored_scores(run, server, db, catalogue, clock, damage):
    run()
    before = {cve: scores(db, cve) for cve in expected_scores()}
    checkpoint = db.source("nvd").etag
    clock.sleep(3600)
    set_score(record(catalogue, "CVE-2023-4863"), 1.0, clock.wall())
    set_score(record(catalogue, "CVE-2024-47177"), 2.0, clock.wall())
    server.faults = [Fault(body=damage, times=5)]
    result = run(retries=4)
    assert result.status == "failed" and "progress kept" in result.detail
    assert {cve: scores(db, cve) for cve in expected_scores()} == before
    assert db.source("nvd").etag == checkpoint
    assert run().status == "updated"
    assert [s[2] for s in scores(db, "CVE-2024-47177")] == [2.0]


def test_a_bad_page_then_a_good_one_is_applied(run, server, db, recent):
    server.faults = [Fault(body=truncated)]
    assert run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC)).status == "updated"
    assert len(server.requests) == 2


def test_a_page_over_the_size_limit_is_refused(run, server, db, catalogue, recent):
    result = run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), max_page_bytes=10_000)
    assert result.status == "failed" and "over the feed's limit" in result.detail
    assert len(server.requests) == 1  # not retried: it would be refused again
    assert db.counts()["cvss"] == 0


def test_a_malformed_record_keeps_its_stored_scores_and_the_others_are_updated(
    run, server, db, catalogue, clock
):
    run()
    before = scores(db, "CVE-2023-4863")
    clock.sleep(3600)
    broken = record(catalogue, "CVE-2023-4863")
    set_score(broken, 1.0, clock.wall())
    del broken["cve"]["metrics"]["cvssMetricV31"][0]["cvssData"]["vectorString"]
    set_score(record(catalogue, "CVE-2024-47177"), 2.0, clock.wall())
    result = run()
    assert result.status == "updated" and "1 CVEs updated, 1 unreadable records" in result.detail
    assert scores(db, "CVE-2023-4863") == before
    assert [s[2] for s in scores(db, "CVE-2024-47177")] == [2.0]


# -- resuming and incremental updates --------------------------------------------------------------


def test_a_load_cut_by_max_requests_resumes_from_its_checkpoint(run, server, db):
    first = run(max_requests=10)
    assert (
        first.status == "updated"
        and "initial load incomplete" in first.detail
        and "10 requests" in first.detail
    )
    checkpoint = Checkpoint.of(db.source("nvd"))
    assert checkpoint.synced == windows(server)[9][1] and not checkpoint.loaded
    second = run()
    assert "initial load complete" in second.detail
    assert windows(server)[10][0] == checkpoint.synced - dt.timedelta(minutes=15)
    assert windows(server)[10][0] > EPOCH
    for cve, rows in expected_scores().items():
        assert scores(db, cve) == rows


def test_a_cut_within_a_window_resumes_at_its_start_index(run, server, catalogue, recent):
    run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), page_size=4, max_requests=2)
    run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), page_size=4)
    assert [r.params["startIndex"] for r in server.requests] == ["0", "4", "8", "12", "0"]
    assert len({(r.params["lastModStartDate"], r.params["lastModEndDate"]) for r in server.requests[:4]}) == 1
    assert parse_time(server.requests[4].params["lastModEndDate"]) > NOW  # then the time the first run took


def test_an_incremental_update_changes_one_score_and_keeps_the_others(run, server, db, catalogue, clock):
    run()
    before = {cve: scores(db, cve) for cve in expected_scores()}
    synced = Checkpoint.of(db.source("nvd")).synced
    clock.sleep(86400)
    set_score(record(catalogue, "CVE-2024-47177"), 9.9, synced + dt.timedelta(hours=2))
    loaded = len(server.requests)
    result = run()
    assert len(server.requests) == loaded + 1
    assert windows(server)[-1] == (synced - dt.timedelta(minutes=15), clock.wall())
    assert "1 windows, 1 pages, 1 CVEs updated" in result.detail
    after = {cve: scores(db, cve) for cve in expected_scores()}
    assert [s[2] for s in after.pop("CVE-2024-47177")] == [9.9]
    before.pop("CVE-2024-47177")
    assert after == before
    assert db.source("nvd").records == db.counts()["cvss"]  # `vigil db status` counts every score kept


def test_a_score_nvd_no_longer_lists_is_removed(run, server, db, catalogue, clock):
    run()
    assert {s[0] for s in scores(db, "CVE-2016-1585")} == {"2.0", "3.0", "3.1"}
    clock.sleep(3600)
    item = record(catalogue, "CVE-2016-1585")
    del item["cve"]["metrics"]["cvssMetricV2"]
    item["cve"]["lastModified"] = clock.wall().replace(tzinfo=None).isoformat()
    run()
    assert {s[0] for s in scores(db, "CVE-2016-1585")} == {"3.0", "3.1"}


def test_a_cve_that_leaves_its_window_while_it_is_paged_is_not_skipped(run, server, db, catalogue, recent):
    moved = []

    def modify_one_already_read(params):  # between pages, as NVD's data changes under a reader
        if params["startIndex"] == "4" and not moved:
            first = min(catalogue.items, key=lambda i: i["cve"]["id"])
            first["cve"]["lastModified"] = "2026-12-01T13:00:00.000"  # after this run's end
            moved.append(first["cve"]["id"])

    server.before_page = modify_one_already_read
    run(start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), page_size=4)
    assert [r.params["startIndex"] for r in server.requests] == ["0", "4", "3", "7", "11"]
    assert [cve for cve in expected_scores() if not db.cvss(cve)] == []


def test_an_unreadable_checkpoint_starts_the_load_over():
    class Row:
        etag = "not json"

    assert Checkpoint.of(Row()) == Checkpoint()  # type: ignore[arg-type]


def test_update_feed_runs_it_as_the_nvd_api_updater(server, db, clock, tmp_path, monkeypatch):
    updater = NvdUpdater(NvdOptions(), clock=clock, sleep=clock.sleep, now=clock.wall)
    monkeypatch.setitem(UPDATERS, "nvd-api", updater)
    feed = Feed("nvd", server.url, "nvd", nvd.LICENCE, kind="enrichment", fetch="nvd-api")
    with httpx.Client(timeout=10) as client:
        result = update_feed(db, feed, Downloader(client, tmp_path / "cache"), IMPORTERS)
    assert result.status == "updated" and db.cvss("CVE-2024-47177")
    assert db.source("nvd").last_modified == "2026-12-01T12:00:00.000+00:00"
