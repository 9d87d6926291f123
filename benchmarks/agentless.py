"""Agentless figures (issue "EBS snapshot reader"): an instance's inventory read from an EBS snapshot through
the EBS direct APIs, block by block, as an agentless scan reads it.

    python benchmarks/agentless.py [--workdir DIR] [--latency-ms 10] [--volume-gib 100]

A loopback block server (tests/support/ebs_blocks.py) speaks ListSnapshotBlocks/GetSnapshotBlock with an
injected latency per block request and serves a sparse snapshot of VOLUME GiB holding the inventory
benchmark's Debian 12 image (GPT, ext4, with its application layer; built and cached by
benchmarks/inventory.py's builders in WORKDIR), padded with unlisted blocks. Measured, each on a fresh reader:
the OS-package inventory, the full scan (OS + every language path, as `vigil.scanning.agentless` collects),
and the full scan with one request at a time. Prints JSON. Goals: OS < 10 s, full < 60 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from tests.support import images as im  # noqa: E402
from tests.support.ebs_blocks import BLOCK, SNAPSHOT_ID, Snapshot, block_server, data_blocks, ebs_client  # noqa: E402

import inventory as bench_inventory  # noqa: E402
from vigil.fleet.providers.aws.blocks import SnapshotBlocks  # noqa: E402
from vigil.fs import open_image  # noqa: E402
from vigil.inventory.collect import Collector, Limits, PathScope  # noqa: E402
from vigil.inventory.model import Target  # noqa: E402
from vigil.inventory.registry import extractors  # noqa: E402

CACHE_BYTES = 256 << 20
TIME_LIMIT_S = 15 * 60


def debian_disk(work: Path) -> Path:
    """The GPT + ext4 Debian 12 disk of benchmarks/inventory.py (same cache folder and manifest)."""
    folder = work / "images" / "gpt-ext4"
    done = folder / "built.json"
    if not done.exists():
        root = bench_inventory.debian_rootfs(work)
        size = im._round_up(bench_inventory.used_bytes(root) * 3 // 2 + 256 * im.MIB, im.MIB)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        files = bench_inventory._gpt(im.make_ext(root, folder / "root.ext4", size=size), folder)
        done.write_text(json.dumps({"files": [str(f) for f in files], "s": time.perf_counter() - started}))
    return Path(json.loads(done.read_text())["files"][0])


def scan(snapshot: Snapshot, endpoint: str, *, os_only: bool, concurrency: int) -> dict[str, Any]:
    """One scan on a fresh reader, collected as `vigil.scanning.agentless` collects."""
    snapshot.requests.clear()
    snapshot.max_in_flight = 0
    started = time.perf_counter()
    with SnapshotBlocks(
        ebs_client(endpoint, pool=concurrency), SNAPSHOT_ID, concurrency=concurrency, cache_bytes=CACHE_BYTES
    ) as reader:
        with open_image(reader, timeout=TIME_LIMIT_S) as fs:
            collector = Collector(
                fs,
                extractors(os_only=os_only),
                scope=PathScope.all(),
                limits=Limits(5000, TIME_LIMIT_S, workers=1),
            )
            inventory = collector.collect(Target(kind="image", paths=(SNAPSHOT_ID,)))
        reader.check()
        wall = time.perf_counter() - started
    stats = reader.stats
    fetched = snapshot.fetched()
    kinds: dict[str, int] = {}
    for p in inventory.packages:
        kinds[p.package_manager] = kinds.get(p.package_manager, 0) + 1
    return {
        "wall_s": round(wall, 2),
        "concurrency": concurrency,
        "packages": kinds,
        "problems": len(inventory.target.problems),
        "requests": stats.requests,
        "blocks_fetched": stats.blocks_fetched,
        "distinct_blocks_fetched": len(fetched),
        "blocks_fetched_again": sum(n - 1 for n in fetched.values()),
        "blocks_listed": stats.blocks_listed,
        "fetched_of_listed_pct": round(100 * len(fetched) / stats.blocks_listed, 1),
        "mib_fetched": round(stats.bytes_fetched / 2**20, 1),
        "cache_hits": stats.cache_hits,
        "retries": stats.retries,
        "peak_cache_mib": round(stats.peak_cache_bytes / 2**20, 1),
        "cache_bound_mib": CACHE_BYTES >> 20,
        "max_requests_in_flight": snapshot.max_in_flight,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "vigil-bench")
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--volume-gib", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    disk = debian_disk(args.workdir)
    blocks = data_blocks(disk)
    snapshot = Snapshot(disk, args.volume_gib, blocks, latency_s=args.latency_ms / 1000)
    with block_server(snapshot) as endpoint:
        results = {
            "snapshot": {
                "volume_gib": args.volume_gib,
                "volume_blocks": (args.volume_gib << 30) // BLOCK,
                "blocks_holding_data": len(blocks),
                "image": str(disk),
                "latency_ms_per_block_request": args.latency_ms,
            },
            "os_packages": scan(snapshot, endpoint, os_only=True, concurrency=args.concurrency),
            "full_scan": scan(snapshot, endpoint, os_only=False, concurrency=args.concurrency),
            "full_scan_one_request_at_a_time": scan(snapshot, endpoint, os_only=False, concurrency=1),
        }
    results["goals"] = {
        "os_packages_under_10_s": results["os_packages"]["wall_s"] < 10,
        "full_scan_under_60_s": results["full_scan"]["wall_s"] < 60,
        "memory_bound_respected": all(
            results[k]["peak_cache_mib"] <= CACHE_BYTES >> 20
            for k in ("os_packages", "full_scan", "full_scan_one_request_at_a_time")
        ),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
