"""The EBS snapshot reader: a disk image served by a loopback EBS direct API server reads like the file."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.scanning.fleetkit import debian_tree
from tests.support import images as im
from tests.support.ebs_blocks import BLOCK, SNAPSHOT_ID, Snapshot, block_server, data_blocks, ebs_client

from vigil.fleet.providers.aws.blocks import BlockStats, SnapshotBlocks, SnapshotReadError
from vigil.fs import FileSystem, FSError, open_image
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.model import Target
from vigil.inventory.registry import extractors

MIB = 1 << 20


class Sleeps:
    """An injected `sleep` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    """16 MiB: random data in blocks 0, 1, 2, 5, 9-15; holes (unlisted blocks) between."""
    rng = random.Random(7)
    image = tmp_path / "synthetic.raw"
    with open(image, "wb") as f:
        f.truncate(16 * MIB)
        for index in (0, 1, 2, 5, *range(9, 16)):
            f.seek(index * BLOCK)
            f.write(rng.randbytes(BLOCK))
    return image


@pytest.fixture
def served(synthetic: Path) -> Iterator[tuple[Snapshot, str]]:
    snapshot = Snapshot(synthetic, 1, data_blocks(synthetic))
    with block_server(snapshot) as endpoint:
        yield snapshot, endpoint


def reader(endpoint: str, **options: object) -> SnapshotBlocks:
    options.setdefault("sleep", Sleeps())
    return SnapshotBlocks(ebs_client(endpoint), SNAPSHOT_ID, **options)  # type: ignore[arg-type]


def files(fs: FileSystem, path: str = "/") -> dict[str, str]:
    """Every regular file's SHA256 and every symlink's target under `path`."""
    found: dict[str, str] = {}
    for info in fs.list_dir(path):
        if info.is_dir:
            found.update(files(fs, info.path))
        elif info.is_file:
            with fs.open(info.path) as f:
                found[info.path] = hashlib.sha256(f.read()).hexdigest()
        elif info.type.value == "symlink":
            found[info.path] = "-> " + fs.read_link(info.path)
    return found


# -- the image stack reads a snapshot like the image file -------------------------------------------------


@pytest.mark.parametrize("layout", ["gpt-debian", "lvm", "xfs"])
def test_open_image_over_a_snapshot_reads_the_same_files_as_the_image_file(layout, layout_image):
    (disk,) = layout_image(layout).sources
    with open_image(str(disk), timeout=120) as direct:
        expected = files(direct)
    snapshot = Snapshot(disk, 1, data_blocks(disk))
    with block_server(snapshot) as endpoint, reader(endpoint) as blocks:
        with open_image(blocks, timeout=120) as image:
            assert files(image) == expected
        listed = set(snapshot.blocks)
        fetched = snapshot.fetched()
    assert set(fetched) <= listed  # blocks absent from the listing are never requested
    assert blocks.stats.blocks_listed == len(listed) < disk.stat().st_size // BLOCK


@pytest.fixture(scope="module")
def debian_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GPT disk, Debian cloud layout, with a Debian root holding dpkg packages and a Python application."""
    work = tmp_path_factory.mktemp("debian")
    packages = [("curl", "7.74.0-1.3+deb11u5", None), ("libssl1.1", "1.1.1n-0+deb11u4", "openssl")]
    tree = debian_tree(work / "tree", packages)
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_BIOS_BOOT, size=3 * MIB, number=14),
        im.Partition(im.GPT_LINUX, content=im.make_ext(tree, work / "root.ext4", size=24 * MIB), number=1),
    ])  # fmt: skip
    return disk


def inventory_of(source: str | SnapshotBlocks) -> list[tuple[str, str, str]]:
    with open_image(source, timeout=120) as fs:
        inventory = Collector(fs, extractors(), scope=PathScope.all()).collect(
            Target(kind="image", paths=("d",))
        )
    return sorted((p.package_manager, p.name, p.version) for p in inventory.packages)


def test_inventory_of_a_snapshot_is_the_inventory_of_its_image(debian_disk):
    expected = inventory_of(str(debian_disk))
    assert {name for _, name, _ in expected} >= {"curl", "libssl1.1"}
    snapshot = Snapshot(debian_disk, 8, data_blocks(debian_disk))
    with block_server(snapshot) as endpoint, reader(endpoint) as blocks:
        assert blocks.size == 8 << 30  # the volume, padded far beyond the image with unlisted blocks
        assert inventory_of(blocks) == expected
        blocks.check()


# -- reads --------------------------------------------------------------------------------------------------


def test_reads_match_the_image_at_any_offset_and_size(served, synthetic):
    _, endpoint = served
    data = synthetic.read_bytes() + bytes(4 * BLOCK)  # the volume goes on past the image: zeros
    with reader(endpoint) as blocks:
        assert isinstance(blocks, io.RawIOBase) and blocks.readable() and blocks.seekable()
        assert not blocks.writable()
        rng = random.Random(3)
        for _ in range(300):
            offset = rng.randrange(len(data) - 4 * BLOCK)
            size = rng.choice((1, 512, 4096, 70_000, BLOCK + 3, 3 * BLOCK))
            blocks.seek(offset)
            assert blocks.read(size) == data[offset : offset + size]
        blocks.seek(0, io.SEEK_END)
        assert blocks.tell() == 1 << 30 and blocks.read(10) == b""


def test_blocks_absent_from_the_listing_read_as_zeros_without_a_request(served):
    snapshot, endpoint = served
    with reader(endpoint) as blocks:
        blocks.seek(3 * BLOCK)
        assert blocks.read(2 * BLOCK) == bytes(2 * BLOCK)  # blocks 3 and 4: holes
        blocks.seek(600 * MIB)
        assert blocks.read(MIB) == bytes(MIB)  # past the image, inside the volume
        assert set(snapshot.fetched()) <= set(snapshot.blocks)
        assert 3 not in snapshot.fetched() and 4 not in snapshot.fetched()
        assert blocks.stats.blocks_listed == 11


def test_read_ahead_makes_a_sequential_read_take_fewer_round_trips(synthetic):
    image = synthetic.parent / "dense.raw"
    image.write_bytes(random.Random(1).randbytes(32 * BLOCK))
    snapshot = Snapshot(image, 1, data_blocks(image), latency_s=0.05)
    elapsed = {}
    with block_server(snapshot) as endpoint:
        for concurrency in (1, 16):
            with reader(endpoint, concurrency=concurrency) as blocks:
                started = time.perf_counter()
                while blocks.read(64 * 1024):
                    if blocks.tell() >= 32 * BLOCK:
                        break
                elapsed[concurrency] = time.perf_counter() - started
                assert blocks.stats.blocks_fetched == 32
    assert elapsed[1] >= 32 * 0.05  # one round trip per block
    assert elapsed[16] < elapsed[1] / 3
    assert snapshot.max_in_flight > 4


def test_the_cache_never_holds_more_than_its_bound(synthetic):
    image = synthetic.parent / "dense.raw"
    data = random.Random(2).randbytes(40 * BLOCK)
    image.write_bytes(data)
    served = block_server(Snapshot(image, 1, data_blocks(image)))
    with served as endpoint, reader(endpoint, cache_bytes=4 * BLOCK) as blocks:
        for _ in range(2):
            blocks.seek(0)
            assert blocks.read(len(data)) == data  # one read larger than the cache
            blocks.seek(0)
            assert (
                b"".join(blocks.read(100_000) for _ in range(len(data) // 100_000 + 1))[: len(data)] == data
            )
            for offset in random.Random(5).sample(range(len(data) - 10), 200):
                blocks.seek(offset)
                assert blocks.read(10) == data[offset : offset + 10]
    stats = blocks.stats
    assert 0 < stats.peak_cache_bytes <= 4 * BLOCK
    assert stats.blocks_fetched > 40  # evicted blocks were fetched again


def test_cache_bound_smaller_than_four_blocks_is_refused(served):
    _, endpoint = served
    with pytest.raises(ValueError, match="at least 4 blocks"):
        reader(endpoint, cache_bytes=BLOCK)


# -- failures --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["throttle", "request-throttled", "429", "503", "500"])
def test_throttling_and_server_errors_are_retried_with_backoff(served, synthetic, fault):
    snapshot, endpoint = served
    snapshot.fail(5, fault, fault, fault)
    sleeps = Sleeps()
    with reader(endpoint, sleep=sleeps, concurrency=1) as blocks:
        blocks.seek(5 * BLOCK)
        assert blocks.read(100) == synthetic.read_bytes()[5 * BLOCK : 5 * BLOCK + 100]
        assert blocks.stats.retries == 3
    assert snapshot.fetched()[5] == 4
    assert len(sleeps.waits) == 3
    assert 0.05 <= sleeps.waits[0] <= 0.1 and 0.1 <= sleeps.waits[1] <= 0.2 and 0.2 <= sleeps.waits[2] <= 0.4


def test_backoff_is_capped(served):
    snapshot, endpoint = served
    snapshot.fail(0, *["503"] * 12)
    sleeps = Sleeps()
    with reader(endpoint, sleep=sleeps, retries=12) as blocks:
        assert len(blocks.read(10)) == 10
    assert max(sleeps.waits) <= 20.0 and len(sleeps.waits) == 12


def test_a_wrong_checksum_is_retried(served, synthetic):
    snapshot, endpoint = served
    snapshot.fail(1, "corrupt")
    with reader(endpoint) as blocks:
        blocks.seek(BLOCK)
        assert blocks.read(BLOCK) == synthetic.read_bytes()[BLOCK : 2 * BLOCK]
        assert blocks.stats.retries == 1
    assert snapshot.fetched()[1] == 2


def test_a_block_that_keeps_failing_its_checksum_fails_the_read(served):
    snapshot, endpoint = served
    snapshot.fail(1, *["corrupt"] * 10)
    sleeps = Sleeps()
    with reader(endpoint, retries=3, sleep=sleeps) as blocks:
        blocks.seek(BLOCK)
        with pytest.raises(SnapshotReadError, match=r"block 1 failed 4 times.*checksum mismatch"):
            blocks.read(10)
        assert len(sleeps.waits) == 3
    assert snapshot.fetched()[1] == 4


def test_a_block_failing_past_the_retries_fails_every_later_read_and_the_check(served):
    snapshot, endpoint = served
    snapshot.fail(2, *["503"] * 10)
    with reader(endpoint, retries=4, concurrency=1) as blocks:
        blocks.seek(2 * BLOCK)
        with pytest.raises(SnapshotReadError, match="block 2 failed 5 times"):
            blocks.read(10)
        requests = len(snapshot.requests)
        blocks.seek(0)
        with pytest.raises(SnapshotReadError):
            blocks.read(10)  # the scan is lost: no more requests are spent on it
        assert len(snapshot.requests) == requests
        with pytest.raises(SnapshotReadError):
            blocks.check()


def test_access_denied_is_not_retried(served):
    snapshot, endpoint = served
    snapshot.fail(0, "denied")
    sleeps = Sleeps()
    blocks = reader(endpoint, sleep=sleeps, concurrency=1)
    with blocks, pytest.raises(SnapshotReadError, match="AccessDeniedException"):
        blocks.read(10)
    assert sleeps.waits == [] and snapshot.fetched()[0] == 1


def test_a_failing_block_under_the_image_stack_fails_the_scan_not_one_file(layout_image):
    """The image stack reports a read error as one unreadable file; the reader keeps it for the scan."""
    (disk,) = layout_image("gpt-debian").sources
    snapshot = Snapshot(disk, 8, data_blocks(disk))
    with block_server(snapshot) as endpoint:
        with reader(endpoint) as blocks, open_image(blocks, timeout=120) as fs:
            opened = set(snapshot.fetched())
            files(fs)
            walked = set(snapshot.fetched()) - opened
        assert walked
        for index in walked:
            snapshot.fail(index, *["500"] * 50)  # blocks the walk needs and the open does not
        with reader(endpoint, retries=1) as blocks, open_image(blocks, timeout=120) as fs:
            with pytest.raises(FSError, match="SnapshotReadError"):
                files(fs)
            with pytest.raises(SnapshotReadError, match="failed 2 times"):
                blocks.check()


def test_an_expired_block_token_makes_the_listing_be_read_again(served, synthetic):
    snapshot, endpoint = served
    sleeps = Sleeps()
    with reader(endpoint, sleep=sleeps, concurrency=1) as blocks:
        assert blocks.read(10) == synthetic.read_bytes()[:10]
        snapshot.expire_tokens()
        blocks.seek(12 * BLOCK)
        assert blocks.read(10) == synthetic.read_bytes()[12 * BLOCK : 12 * BLOCK + 10]
        stats = blocks.stats
    assert stats.list_requests == 2 and stats.retries >= 1
    assert sleeps.waits == []  # a new token needs no backoff


def test_the_listing_is_paginated_and_retried(served):
    snapshot, endpoint = served
    snapshot.page_size = 3
    snapshot.list_faults.extend(["throttle", "503"])
    with reader(endpoint) as blocks:
        assert blocks.stats.blocks_listed == 11
        assert blocks.stats.list_requests == 4 + 2 and blocks.size == 1 << 30


def test_a_snapshot_that_cannot_be_listed_is_a_read_error(served):
    snapshot, endpoint = served
    snapshot.list_faults.append("denied")
    with pytest.raises(SnapshotReadError, match="AccessDeniedException"):
        reader(endpoint)


# -- what a scan keeps ---------------------------------------------------------------------------------


def test_requests_and_bytes_are_counted(served):
    snapshot, endpoint = served
    with reader(endpoint, concurrency=1) as blocks:
        blocks.seek(9 * BLOCK)
        blocks.read(BLOCK)
        blocks.seek(9 * BLOCK + 10)
        blocks.read(10)
    stats = blocks.stats  # closed: the read-ahead has landed
    assert stats.requests == len(snapshot.requests)
    assert stats.list_requests == 1
    assert stats.blocks_fetched == len(snapshot.fetched()) >= 1
    assert stats.bytes_fetched == stats.blocks_fetched * BLOCK
    assert stats.cache_hits >= 1 and stats.retries == 0 and stats.blocks_listed == 11
    assert (stats + stats).bytes_fetched == 2 * stats.bytes_fetched
    assert isinstance(stats, BlockStats)


def test_close_stops_the_pool_and_later_reads_fail(served):
    _, endpoint = served
    blocks = reader(endpoint)
    blocks.read(10)
    blocks.close()
    blocks.close()
    assert blocks.closed
    with pytest.raises(ValueError):
        blocks.read(10)
