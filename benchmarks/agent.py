"""The issue "Agent-based scanning"'s figures, against a real server (`vigil server run`, TLS on loopback):

    PYTHONPATH=src:. python benchmarks/agent.py [--idle-seconds 60] [--changes 5] [--agents 500]
        [--workdir DIR] [--skip-load]

1. the agent on this host (`--root /`, deep inspection on): CPU and RSS once its first OS and deep
   inspection inventories are accepted, then its idle CPU over `--idle-seconds` (heartbeats and the
   package-database watch); one OS inventory in a fresh process (CPU, RSS); a plain install's weight
   (`benchmarks/agent_client.py` does each);
2. from a package database change to the finding listed: an agent on a Debian 11 tree, a vulnerable
   package "installed" (dpkg's status replaced by rename), `ListFindings` polled every 100 ms until the new
   finding is there; `--changes` times, each a different package;
3. 500 agents against one server (`benchmarks/agent_load.py`): inventories accepted per second, heartbeat
   latency at saturation and at a fleet's pace, server CPU and RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import agent_client  # noqa: E402  (the agent's own costs)
import agent_load  # noqa: E402  (many agents, one server)

FIXTURES = HERE.parent / "tests" / "advisories" / "importers" / "fixtures"
# (package, a Debian 11 version its DSA fixes later, a CVE of that DSA): each installed in turn
VULNERABLE = [
    ("multipath-tools", "0.8.5-2", "CVE-2022-41973"),
    ("libreswan", "4.3-1+deb11u2", "CVE-2023-23009"),
    ("curl", "7.74.0-1.3+deb11u5", "CVE-2023-23916"),
    ("sudo", "1.9.5p2-3", "CVE-2023-22809"),
    ("git", "1:2.30.2-1+deb11u1", "CVE-2023-22490"),
    ("openssl", "1.1.1n-0+deb11u2", "CVE-2022-2068"),
]


def _server(work: Path) -> Any:
    from tests.support.cli import vigil
    from tests.support.server import LiveServer, init_server

    directory = work / f"server-{int(time.time() * 1000)}"
    server = LiveServer(directory, init_server(directory))
    server.update_settings(schedule={"reevaluate": dt.timedelta(seconds=1)})
    vigil("db", "import", FIXTURES / "debian" / "DSA-list", "--db", directory / "advisories.db")
    server.start()
    server.client().enable(resourceTypes=["EC2"])
    return server


def _register(server: Any, state: Path, root: str) -> str:
    activation = server.request("POST", "/vigil/v1/activations", json_body={"registrationLimit": 1}).json()
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "agent", "register", "--server", server.endpoint,
         "--activation-id", activation["activationId"], "--activation-code", activation["activationCode"],
         "--ca-cert", str(server.ca_cert), "--state", str(state), "--root", root],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return str(json.loads(done.stdout)["instanceId"])


def host_agent(work: Path, idle_seconds: float) -> dict[str, Any]:
    server = _server(work)
    try:
        _register(server, work / "host-agent", "/")
        return agent_client.measure_running_agent(work / "host-agent", "/", idle_seconds=idle_seconds)
    finally:
        server.stop()


def change_to_finding(work: Path, changes: int) -> dict[str, Any]:
    from tests.scanning.fleetkit import debian_tree

    server = _server(work)
    root = debian_tree(work / "tree", (("base-files", "11.1+deb11u5", None),))
    (root / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")
    state = work / "tree-agent"
    instance_id = _register(server, state, str(root))
    agent = agent_client.start_agent(state, str(root), heartbeat=60)
    inspector = server.client()

    def vulnerabilities() -> set[str]:
        pages = inspector.get_paginator("list_findings").paginate(
            filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": instance_id}]}
        )
        return {f["packageVulnerabilityDetails"]["vulnerabilityId"] for p in pages for f in p["findings"]}

    took = []
    try:
        agent_client.wait_for_deliveries(state, ("os",), timeout=120)
        status = root / "var/lib/dpkg/status"
        for name, version, cve in VULNERABLE[:changes]:
            stanza = f"\n\nPackage: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
            stanza += f"Version: {version}\n"
            new = status.with_name("status-new")
            new.write_text(status.read_text().rstrip("\n") + stanza)
            started = time.monotonic()
            os.replace(new, status)
            while cve not in vulnerabilities():
                if time.monotonic() - started > 120:
                    raise RuntimeError(f"{cve} ({name}) not listed within 120 s")
                time.sleep(0.1)
            took.append(time.monotonic() - started)
    finally:
        agent_client.stop_agent(agent)
        server.stop()
    return {
        "changes": len(took),
        "seconds": [round(t, 2) for t in took],
        "median_s": round(statistics.median(took), 2),
        "max_s": round(max(took), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-agent-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {
        "os_inventory_fresh_process": agent_client.os_inventory_cost("/"),
        "install": agent_client.install_weight(),
        "host_agent": host_agent(work / "host", args.idle_seconds),
        "change_to_finding": change_to_finding(work / "change", args.changes),
    }
    print(json.dumps(figures, indent=2), flush=True)
    if not args.skip_load:
        load = argparse.Namespace(
            agents=args.agents, distinct=50, threads=32, heartbeats=5, window=60.0, workdir=work / "load",
            corpus=HERE.parents[1] / "shared" / "data" / "advisories",
        )  # fmt: skip
        figures["load"] = agent_load.run(load)
        print(json.dumps(figures["load"], indent=2))


if __name__ == "__main__":
    main()
