"""The fleet service part of `make run`: a server in `var/demo/server` (SQLite), the demo fleet attached,
scanned agentlessly by the server's own scheduler, and its coverage and findings read back through the
Inspector2 API with botocore, as a user's script would. `make serve` keeps that server running.

The demo is offline: the server's advisory database is the demo's (real records kept in the repository) and
its feeds list is empty, so the scheduled feed update reaches nothing.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from vigil.server.settings import Listen, load_settings, parse_duration, save_settings
from vigil.server.setup import AccountKeys, attach_local_fleet, init_server

WEB, EXCLUDED, STOPPED = "i-0de0000000000web1", "i-0de0000000000web2", "i-0de00000000000db1"
SCAN_WAIT = 120.0


def prepare(directory: Path, disk: Path, advisories: Path) -> AccountKeys:
    """A new server in `directory` (any earlier demo server there is replaced) with the demo fleet."""
    if directory.exists():
        shutil.rmtree(directory)
    keys = init_server(directory)
    shutil.copyfile(advisories, directory / "advisories.db")
    (directory / "feeds.yaml").write_text("feeds: []  # the demo is offline: no feed is fetched\n")
    settings = load_settings(directory)
    # new instances are scanned at the scheduler's next check: every 2 s here rather than every 30 s
    schedule = {**settings.schedule, "reevaluate": parse_duration("2s")}
    save_settings(settings.replace(feeds_file=Path("feeds.yaml"), schedule=schedule))
    fleet = directory / "fleets" / keys.account_id / "fleet.yaml"
    (fleet.parent / "images").mkdir(parents=True)
    shutil.copyfile(disk, fleet.parent / "images" / "web.img")
    volume = {"device": "/dev/xvda", "file": "images/web.img"}
    fleet.write_text(
        json.dumps(
            {
                "instances": [
                    {"instanceId": WEB, "state": "running", "imageId": "ami-0de0000000000demo",
                     "instanceType": "t3.small", "tags": {"Name": "demo-web-01", "team": "shop"},
                     "volumes": [{"volumeId": "vol-0de000000000web1", **volume}]},
                    {"instanceId": EXCLUDED, "state": "running",
                     "tags": {"Name": "demo-web-02", "InspectorEc2Exclusion": "true"},
                     "volumes": [{"volumeId": "vol-0de000000000web2", **volume}]},
                    {"instanceId": STOPPED, "state": "stopped", "tags": {"Name": "demo-db-01"},
                     "volumes": [{"volumeId": "vol-0de0000000000db1", **volume}]},
                ]
            },
            indent=2,
        )
    )  # fmt: skip
    attach_local_fleet(directory, keys.account_id, fleet)
    return keys


def start(directory: Path, listen: str = "127.0.0.1:0") -> tuple[subprocess.Popen[bytes], str]:
    """`vigil server run DIR` as its own process; returns it and the endpoint it announced."""
    log = (directory / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "vigil", "server", "run", str(directory), "--listen", listen],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else b""
    if not line:
        process.kill()
        raise SystemExit(f"the demo server did not start; see {directory / 'server.log'}")
    return process, json.loads(line)["endpoint"]


def client(keys: AccountKeys, endpoint: str) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        "inspector2",
        endpoint_url=endpoint,
        region_name=keys.region,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        verify=str(keys.ca_cert),
    )


def show(inspector: Any) -> None:
    """Enable EC2 scanning, wait (bounded) for the scheduler's first scan, print coverage and findings."""
    enabled = inspector.enable(resourceTypes=["EC2"])["accounts"]
    account, ec2 = enabled[0]["accountId"], enabled[0]["resourceStatus"]["ec2"]
    print(f"Enable(EC2): account {account} {ec2}", flush=True)
    deadline = time.monotonic() + SCAN_WAIT
    while True:
        covered = inspector.list_coverage()["coveredResources"]
        web = next((r for r in covered if r["resourceId"] == WEB), None)
        if web and web["scanStatus"]["reason"] not in ("PENDING_INITIAL_SCAN", "SCAN_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the demo server did not scan the demo instance in time")
        time.sleep(0.5)
    print("ListCoverage:")
    for r in sorted(covered, key=lambda r: r["resourceId"]):
        status = r["scanStatus"]
        scanned = r.get("lastScannedAt")
        when = f"  last scanned {scanned:%H:%M:%S}" if scanned else ""
        name = r.get("resourceMetadata", {}).get("ec2", {}).get("tags", {}).get("Name", "")
        print(f"  {r['resourceId']}  {name:12}  {status['statusCode']:8}  {status['reason']:22}"
              f"  {r.get('scanMode', '')}{when}")  # fmt: skip
    findings = [
        f
        for page in inspector.get_paginator("list_findings").paginate(
            filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": WEB}]}
        )
        for f in page["findings"]
    ]
    severities = Counter(f["severity"] for f in findings)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in severities.most_common())
    print(f"\nListFindings for {WEB}: {len(findings)} active findings ({summary}), the worst first:")
    rank = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "INFORMATIONAL": 4, "UNTRIAGED": 5}
    for f in sorted(findings, key=lambda f: (rank[f["severity"]], f["title"]))[:12]:
        details = f["packageVulnerabilityDetails"]
        packages = details.get("vulnerablePackages", [])  # none for an end-of-life finding
        fixes = ", ".join(sorted({p.get("fixedInVersion", "") for p in packages} - {""}))
        print(f"  {f['severity']:10} {details['vulnerabilityId']:24} {f['title'][:60]:60} {fixes[:30]}")
    by_package = inspector.list_finding_aggregations(aggregationType="PACKAGE")["responses"]
    top = [r["packageAggregation"] for r in by_package][:5]
    counted = ", ".join(f"{a['packageName']} ({a['severityCounts']['all']})" for a in top)
    print(f"\nListFindingAggregations by PACKAGE, the most affected: {counted}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def run_demo(directory: Path, disk: Path, advisories: Path) -> None:
    """`make run`'s fleet part: prepare, serve, let the scheduler scan, print, stop."""
    keys = prepare(directory, disk, advisories)
    process, endpoint = start(directory)
    try:
        print(f"server: {endpoint} (store {directory / 'vigil.db'}), account {keys.account_id}", flush=True)
        show(client(keys, endpoint))
    finally:
        stop(process)
    saved = directory / "keys.json"
    print(f"\nThe server has stopped. `make serve` runs it again (same state); its keys: {saved}")
    (directory / "keys.json").write_text(json.dumps(keys.to_json(), indent=2, default=str) + "\n")


def serve(directory: Path, listen: str) -> None:
    """`make serve`: run the demo server in the foreground until Ctrl-C, saying how to reach it."""
    keys = json.loads((directory / "keys.json").read_text())
    Listen.parse(listen)
    print("The demo server, until Ctrl-C. Try:\n"
          f"  export AWS_ACCESS_KEY_ID={keys['accessKeyId']} AWS_SECRET_ACCESS_KEY={keys['secretAccessKey']} "
          f"AWS_DEFAULT_REGION={keys['region']}\n"
          f"  .venv/bin/aws --endpoint-url https://{listen} --ca-bundle {keys['caCert']} "
          "inspector2 list-coverage\n",
          flush=True)  # fmt: skip
    os.execv(
        sys.executable, [sys.executable, "-m", "vigil", "server", "run", str(directory), "--listen", listen]
    )
