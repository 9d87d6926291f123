"""A server killed with SIGKILL in the middle of a scan leaves nothing behind once it has run again: its
snapshots are swept and its scan ends as interrupted (and is retried by itself)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.scanning.fleetkit import ACCOUNT, attach, coverage_of, instance, volume, write_fleet

REPO = Path(__file__).resolve().parents[2]
WEB = "i-0a1b2c3d4e5f60001"

# a fleet service in another process, whose scan stops once its snapshots are taken, until it is killed
CHILD = textwrap.dedent(
    """
    import sys
    from tests.scanning.fleetkit import FakeAccounts, FakeClock, RecordingFindings
    from vigil.advisories.store import AdvisoryDB
    from vigil.scanning.services import FleetServices
    from vigil.scanning.snapshots import SnapshotStore
    from vigil.store.engine import make_engine, session_factory

    class Held(SnapshotStore):
        def take(self, scan_id, volumes):
            taken = super().take(scan_id, volumes)
            print("snapshotted", flush=True)
            sys.stdin.readline()  # until killed
            return taken

    url, advisories, snapshots, scan_id = sys.argv[1:]
    services = FleetServices(session_factory(make_engine(url)), FakeClock(), FakeAccounts(), RecordingFindings(),
                             AdvisoryDB(advisories, readonly=True), snapshots_dir=snapshots, region="us-east-1")
    services.snapshot_stores.local.store = Held(snapshots)
    services.scanner.run(scan_id)
    """
)


def test_a_scan_killed_mid_way_leaves_nothing_once_the_server_ran_again(world, fleet_engine, fleet_dir):
    attach(
        world, write_fleet(fleet_dir / "fleet.yaml", [instance(WEB, [volume("images/web.qcow2", "vol-01")])])
    )
    scan = world.services.scans.queue(ACCOUNT, WEB, "schedule", world.clock())
    url = fleet_engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(world.advisories.path), str(world.snapshots), scan.scan_id],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "the child never took its snapshots"
        assert child.stdout.readline() == b"snapshotted\n", child.stderr.read().decode()
        assert world.services.scans.get(scan.scan_id).status == "RUNNING"
        assert [p.name for p in world.snapshots.iterdir()] == [scan.scan_id]
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert [p.name for p in world.snapshots.iterdir()] == [scan.scan_id]  # what a crash leaves

    world.scheduler.start()  # the server runs again
    world.scheduler.stop()
    assert list(world.snapshots.iterdir()) == []
    ended = world.services.scans.get(scan.scan_id)
    assert (ended.status, ended.reason) == ("FAILED", "INTERNAL_ERROR") and "interrupted" in ended.detail
    assert coverage_of(world, WEB) == ("INACTIVE", "INTERNAL_ERROR")
    world.clock.advance(hours=1)
    world.scheduler.tick()
    assert coverage_of(world, WEB) == ("ACTIVE", "SUCCESSFUL")
