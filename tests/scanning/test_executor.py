"""The thread executor runs the fleet's tasks in worker threads, one of each (task, arguments) at a time."""

from __future__ import annotations

import threading
import time

from tests.scanning.fleetkit import ACCOUNT, attach, instance, volume, write_fleet

from vigil.scanning import tasks
from vigil.scanning.executor import ThreadExecutor

WEB, VPN = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002"


def test_scans_run_in_worker_threads_and_end_before_shutdown_returns(world, fleet_dir):
    attach(world, write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")]),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
    ]))  # fmt: skip
    executor = ThreadExecutor(world.services, workers=2)
    scans = []
    for instance_id in (WEB, VPN):
        scans.append(world.services.scans.queue(ACCOUNT, instance_id, "schedule", world.clock()).scan_id)
        assert executor.submit("scan_instance", scan_id=scans[-1])
    # both taken by a worker (a scan still queued when shutdown comes is dropped: it ends as interrupted at
    # the next start), then shutdown waits for the running ones
    deadline = time.monotonic() + 30
    while any(world.services.scans.get(s).status == "QUEUED" for s in scans) and time.monotonic() < deadline:
        time.sleep(0.01)
    executor.shutdown(wait=True)
    assert sorted(world.findings.evaluated()) == [WEB, VPN] and list(executor.failures) == []
    assert {r["status"] for _, r in executor.results} == {"SUCCEEDED"}
    assert not executor.submit("purge")  # shut down: nothing more is taken


def test_the_same_task_is_not_queued_twice_while_it_runs(world, monkeypatch):
    started, release = threading.Event(), threading.Event()

    def held(services):
        started.set()
        assert release.wait(30)
        return "done"

    monkeypatch.setitem(tasks.TASKS, "sweep", held)
    executor = ThreadExecutor(world.services, workers=2)
    assert executor.submit("sweep")
    assert started.wait(30)
    assert not executor.submit("sweep") and executor.pending() == 1
    release.set()
    executor.shutdown(wait=True)
    assert list(executor.results) == [("sweep", "done")] and executor.pending() == 0


def test_a_failing_task_is_kept_with_its_error(world):
    executor = ThreadExecutor(world.services)
    executor.submit("discover", account_id=ACCOUNT, kind="local")
    executor.shutdown(wait=True)
    (failure,) = executor.failures
    assert (failure.task, failure.arguments) == ("discover", {"account_id": ACCOUNT, "kind": "local"})
    assert "LookupError" in failure.error
