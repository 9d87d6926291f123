"""An initial NVD load's request count and duration at NVD's published rate limits.

    python benchmarks/nvd_load.py [--cves 300000] [--no-key-run]

A loopback server answers as NVD's CVE API 2.0 does (`lastModified` windows, `startIndex` paging, pages of
2,000) over a synthetic NVD of `--cves` records: the 15 real records of tests/advisories/fixtures/nvd-api
under new ids, published 1999-2026 in NVD's yearly proportions (few early, most recent) and last modified
after that (more than half of them again since 2023, as NVD's re-analysis did). `vigil db update`'s NVD
updater loads it into a new database with its rate limiter on a virtual clock: sleeps advance the clock,
nobody waits, so the duration printed is the one the published limit imposes (5 requests per 30 s
without a key, 50 with one), not counting NVD's own response times. Then one day of changes (about 770
CVEs, NVD's recent daily average) is fetched incrementally. Prints JSON.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.advisories.test_nvd_api import FakeNvd, VirtualClock, real_records

from vigil.advisories.download import Downloader
from vigil.advisories.feeds import IMPORTERS
from vigil.advisories.importers import nvd
from vigil.advisories.sources.nvd_api import NvdOptions, NvdUpdater
from vigil.advisories.store import AdvisoryDB
from vigil.advisories.update import Feed

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
RE_ANALYSED_SINCE = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
# CVEs published per year (NVD's counts, rounded; 2026 extrapolated): weights for the synthetic years
PER_YEAR = {
    1999: 1_500, 2000: 1_200, 2001: 1_700, 2002: 2_200, 2003: 1_500, 2004: 2_500, 2005: 4_900,
    2006: 6_600, 2007: 6_500, 2008: 5_600, 2009: 5_700, 2010: 4_600, 2011: 4_200, 2012: 5_300,
    2013: 5_200, 2014: 7_900, 2015: 6_500, 2016: 6_500, 2017: 14_600, 2018: 16_500, 2019: 17_300,
    2020: 18_300, 2021: 20_200, 2022: 25_100, 2023: 29_000, 2024: 40_000, 2025: 46_000, 2026: 42_000,
}  # fmt: skip
DAILY_CHANGES = 770  # ~23,000 CVEs modified in 30 days (September 2026)


class SyntheticNvd:
    """`--cves` records in `lastModified` order, rendered from the real ones on demand."""

    def __init__(self, count: int, seed: int = 1999) -> None:
        rng = random.Random(seed)
        self.templates = [self._template(item) for item in real_records()]
        years = rng.choices(list(PER_YEAR), weights=list(PER_YEAR.values()), k=count)
        rows = []
        for n, year in enumerate(years):
            start = dt.datetime(year, 1, 1, tzinfo=dt.UTC).timestamp()
            end = min(dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC), NOW).timestamp()
            published = rng.uniform(start, end)
            if rng.random() < 0.55:  # re-analysed (CPE, CVSS 3.1/4.0) in recent years
                modified = rng.uniform(max(published, RE_ANALYSED_SINCE.timestamp()), NOW.timestamp())
            else:  # analysed some weeks after publication (or not yet: then some time since)
                modified = published + rng.expovariate(1 / (60 * 86400))
                if modified > NOW.timestamp():
                    modified = rng.uniform(published, NOW.timestamp())
            rows.append((modified, published, f"CVE-{year}-{100000 + n}", n % len(self.templates)))
        rows.sort()
        self.rows = rows
        self.modified = [r[0] for r in rows]

    @staticmethod
    def _template(item: dict[str, Any]) -> str:
        cve = dict(item["cve"], id="@ID@", published="@PUB@", lastModified="@MOD@")
        return json.dumps({"cve": cve})

    def select(self, start: dt.datetime, end: dt.datetime, index: int, size: int) -> tuple[int, list[str]]:
        lo = bisect.bisect_left(self.modified, start.timestamp())
        hi = bisect.bisect_right(self.modified, end.timestamp())
        chosen = self.rows[lo + index : min(lo + index + size, hi)]
        return hi - lo, [self._render(row) for row in chosen]

    def _render(self, row: tuple[float, float, str, int]) -> str:
        modified, published, cve, template = row
        return (
            self.templates[template]
            .replace("@ID@", cve)
            .replace("@PUB@", _nvd_time(published))
            .replace("@MOD@", _nvd_time(modified))
        )

    def touch(self, count: int, since: dt.datetime, until: dt.datetime, seed: int = 2026) -> None:
        """`count` CVEs modified again between `since` and `until` (one day of NVD's changes)."""
        rng = random.Random(seed)
        for i in rng.sample(range(len(self.rows)), count):
            _, published, cve, template = self.rows[i]
            self.rows[i] = (rng.uniform(since.timestamp(), until.timestamp()), published, cve, template)
        self.rows.sort()
        self.modified = [r[0] for r in self.rows]


def _nvd_time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def load(catalogue: SyntheticNvd, workdir: Path, api_key: str | None) -> dict[str, Any]:
    """An initial load, then one day later an incremental update, on a virtual clock."""
    clock = VirtualClock(NOW)
    db_path = workdir / f"advisories-{'key' if api_key else 'nokey'}.db"
    with FakeNvd(catalogue, clock) as server, AdvisoryDB(db_path) as db, httpx.Client(timeout=120) as http:
        feed = Feed("nvd", server.url, "nvd", nvd.LICENCE, kind="enrichment", fetch="nvd-api")
        downloader = Downloader(http, workdir / "cache", timeout=120)
        updater = NvdUpdater(NvdOptions(api_key=api_key), clock=clock, sleep=clock.sleep, now=clock.wall)
        began = time.perf_counter()
        initial = updater(db, feed, downloader, IMPORTERS)
        elapsed = time.perf_counter() - began
        requests, virtual = len(server.requests), clock.seconds
        windows = len({(r.params["lastModStartDate"], r.params["lastModEndDate"]) for r in server.requests})
        cvss_rows = db.counts()["cvss"]

        clock.sleep(86400 - clock.seconds % 86400 or 86400)  # the next day's run
        before = clock.seconds
        catalogue.touch(DAILY_CHANGES, clock.wall() - dt.timedelta(days=1), clock.wall())
        incremental = NvdUpdater(NvdOptions(api_key=api_key), clock=clock, sleep=clock.sleep, now=clock.wall)(
            db, feed, downloader, IMPORTERS
        )
    return {
        "rate_limit": "50 requests / 30 s (API key)" if api_key else "5 requests / 30 s (no key)",
        "initial_load": {
            "status": initial.status,
            "requests": requests,
            "windows": windows,
            "pages_beyond_the_first_of_a_window": requests - windows,
            "virtual_duration_s": round(virtual, 1),
            "virtual_duration_h": round(virtual / 3600, 2),
            "cvss_rows": cvss_rows,
            "database_mib": round(db_path.stat().st_size / 2**20, 1),
            "real_elapsed_s": round(elapsed, 1),
            "detail": initial.detail,
        },
        "one_day_later": {
            "status": incremental.status,
            "requests": len(server.requests) - requests,
            "virtual_duration_s": round(clock.seconds - before, 1),
            "detail": incremental.detail,
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    catalogue = SyntheticNvd(args.cves)
    by_year = [dt.datetime.fromtimestamp(m, dt.UTC).year for m in catalogue.modified]
    result: dict[str, Any] = {
        "cves": args.cves,
        "real_records_replicated": len(catalogue.templates),
        "last_modified_before_2017": sum(y < 2017 for y in by_year),
        "last_modified_2023_on": sum(y >= 2023 for y in by_year),
        "page_size": 2000,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="vigil-nvd-") as tmp:
        keys = [None] if args.no_key_run else [None, "benchmark-key"]
        for key in keys:
            result["runs"].append(load(catalogue, Path(tmp), key))
            catalogue = SyntheticNvd(args.cves)  # the same NVD again for the next run
    result["real_elapsed_s"] = round(time.perf_counter() - began, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cves", type=int, default=300_000, help="records in the simulated NVD")
    parser.add_argument("--no-key-run", action="store_true", help="only the unauthenticated load")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
