"""The fleet service part of `make run`: a server in `var/demo/server` (SQLite), the demo fleet attached,
scanned agentlessly by the server's own scheduler and agent-based by a real `vigil agent run` process (on a
copy of the demo's root tree, `demo-app-01`, bound to its fleet entry by its machine id), a package
"installed" there and its findings listed seconds later, and coverage and findings read back through the
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
APP, APP_MACHINE = "i-0de0000000000app1", "0de000000000000000000000000a5501"
SCAN_WAIT = 120.0
INSTALLED = ("libreswan", "4.3-1+deb11u2", "CVE-2023-23009")  # DSA-5368: fixed in 4.3-1+deb11u3
PACKAGES_ONLY = {"findingType": [{"comparison": "EQUALS", "value": "PACKAGE_VULNERABILITY"}]}
NETWORK_ONLY = {"findingType": [{"comparison": "EQUALS", "value": "NETWORK_REACHABILITY"}]}


def _rule(protocol: str, port: int, **source: Any) -> dict[str, Any]:
    ranges = [{"CidrIp": source["cidr"]}] if "cidr" in source else []
    groups = [{"GroupId": source["group"]}] if "group" in source else []
    return {
        "IpProtocol": protocol,
        "FromPort": port,
        "ToPort": port,
        "IpRanges": ranges,
        "UserIdGroupPairs": groups,
    }


_ALL = "0.0.0.0/0"
# the demo VPC as the EC2 API describes it: demo-web-01 in a public subnet (SSH open to the world, HTTPS),
# demo-app-01 in a private one that only the web tier's group reaches
DEMO_NETWORK: dict[str, Any] = {
    "Vpcs": [{"VpcId": "vpc-0de0000000000demo", "CidrBlock": "10.20.0.0/16"}],
    "Subnets": [
        {
            "SubnetId": "subnet-0de00000000public",
            "VpcId": "vpc-0de0000000000demo",
            "CidrBlock": "10.20.1.0/24",
        },
        {
            "SubnetId": "subnet-0de0000000private",
            "VpcId": "vpc-0de0000000000demo",
            "CidrBlock": "10.20.2.0/24",
        },
    ],
    "InternetGateways": [
        {"InternetGatewayId": "igw-0de0000000000demo", "Attachments": [{"VpcId": "vpc-0de0000000000demo"}]}
    ],
    "RouteTables": [
        {
            "RouteTableId": "rtb-0de00000000000main",
            "VpcId": "vpc-0de0000000000demo",
            "Associations": [{"Main": True}],
            "Routes": [{"DestinationCidrBlock": "10.20.0.0/16", "GatewayId": "local"}],
        },
        {
            "RouteTableId": "rtb-0de0000000000public",
            "VpcId": "vpc-0de0000000000demo",
            "Associations": [{"SubnetId": "subnet-0de00000000public"}],
            "Routes": [
                {"DestinationCidrBlock": "10.20.0.0/16", "GatewayId": "local"},
                {"DestinationCidrBlock": _ALL, "GatewayId": "igw-0de0000000000demo"},
            ],
        },
    ],
    "NetworkAcls": [
        {
            "NetworkAclId": "acl-0de0000000000demo",
            "VpcId": "vpc-0de0000000000demo",
            "IsDefault": True,
            "Entries": [
                {
                    "RuleNumber": 100,
                    "Protocol": "-1",
                    "RuleAction": "allow",
                    "Egress": egress,
                    "CidrBlock": _ALL,
                }
                for egress in (False, True)
            ],
        },
    ],
    "SecurityGroups": [
        {
            "GroupId": "sg-0de00000000000web",
            "VpcId": "vpc-0de0000000000demo",
            "IpPermissions": [_rule("tcp", 22, cidr=_ALL), _rule("tcp", 443, cidr=_ALL)],
        },
        {
            "GroupId": "sg-0de00000000000app",
            "VpcId": "vpc-0de0000000000demo",
            "IpPermissions": [_rule("tcp", 8080, group="sg-0de00000000000web")],
        },
    ],
    "NetworkInterfaces": [
        {
            "NetworkInterfaceId": "eni-0de00000000000web",
            "SubnetId": "subnet-0de00000000public",
            "PrivateIpAddress": "10.20.1.10",
            "Groups": [{"GroupId": "sg-0de00000000000web"}],
            "Attachment": {"InstanceId": WEB, "DeviceIndex": 0},
            "Association": {"PublicIp": "198.51.100.10"},
        },
        {
            "NetworkInterfaceId": "eni-0de00000000000app",
            "SubnetId": "subnet-0de0000000private",
            "PrivateIpAddress": "10.20.2.10",
            "Groups": [{"GroupId": "sg-0de00000000000app"}],
            "Attachment": {"InstanceId": APP, "DeviceIndex": 0},
        },
    ],
}


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
                    {"instanceId": APP, "state": "running", "machineId": APP_MACHINE,
                     "tags": {"Name": "demo-app-01", "team": "shop"}},
                ],
                "network": DEMO_NETWORK,
            },
            indent=2,
        )
    )  # fmt: skip
    attach_local_fleet(directory, keys.account_id, fleet)
    return keys


class DemoAgent:
    """`vigil agent register` and `vigil agent run` on a copy of the demo's root tree (its machine id the
    fleet file's `demo-app-01`), as an administrator installs the agent on a VM."""

    def __init__(self, directory: Path, rootfs: Path) -> None:
        self.root = directory / "agent-root"
        self.state = directory / "agent-state"
        self.log = directory / "agent.log"
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.copytree(rootfs, self.root, symlinks=True)
        (self.root / "etc" / "machine-id").write_text(APP_MACHINE + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, directory: Path, endpoint: str, keys: AccountKeys) -> str:
        from vigil.server.setup import create_activation

        activation = create_activation(
            directory, keys.account_id, registration_limit=1, expires_in=parse_duration("1h"), tags={}
        )
        registered = subprocess.run(
            [sys.executable, "-m", "vigil", "agent", "register", "--server", endpoint,
             "--activation-id", activation.activation_id, "--activation-code", activation.activation_code,
             "--ca-cert", str(keys.ca_cert), "--state", str(self.state), "--root", str(self.root)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if registered.returncode != 0:
            raise SystemExit(f"the demo agent could not register: {registered.stderr.strip()}")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vigil", "agent", "run", "--state", str(self.state), "--root",
                 str(self.root), "--heartbeat", "5"],
                stdout=log, stderr=log,
            )  # fmt: skip
        return str(json.loads(registered.stdout)["instanceId"])

    def install(self, name: str, version: str) -> None:
        """What dpkg does when a package is installed: the new status written, then renamed over the old."""
        status = self.root / "var" / "lib" / "dpkg" / "status"
        new = status.with_name("status-new")
        new.write_text(
            status.read_text().rstrip("\n")
            + f"\n\nPackage: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        )
        os.replace(new, status)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


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


def _covered(inspector: Any, instance_id: str, done: Any, what: str) -> list[dict[str, Any]]:
    """ListCoverage once `done(the instance's covered resource)` holds (bounded)."""
    deadline = time.monotonic() + SCAN_WAIT
    while True:
        covered: list[dict[str, Any]] = [
            r for r in inspector.list_coverage()["coveredResources"] if r["scanType"] == "PACKAGE"
        ]
        mine = next((r for r in covered if r["resourceId"] == instance_id), None)
        if mine and done(mine):
            return covered
        if time.monotonic() > deadline:
            raise SystemExit(f"the demo server did not {what} in time")
        time.sleep(0.25)


def _agent_based(resource: dict[str, Any]) -> bool:
    reason = resource["scanStatus"]["reason"]
    return bool(
        resource["scanMode"] == "EC2_SSM_AGENT_BASED"
        and reason in ("SUCCESSFUL", "DEEP_INSPECTION_NO_INVENTORY")
    )


def _scanned(resource: dict[str, Any]) -> bool:
    return resource["scanStatus"]["reason"] not in ("PENDING_INITIAL_SCAN", "SCAN_IN_PROGRESS")


def _vulnerabilities(inspector: Any, instance_id: str) -> set[str]:
    pages = inspector.get_paginator("list_findings").paginate(
        filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": instance_id}], **PACKAGES_ONLY}
    )
    return {f["packageVulnerabilityDetails"]["vulnerabilityId"] for page in pages for f in page["findings"]}


def show(inspector: Any, agent: Any = None) -> None:
    """Enable EC2 scanning, wait (bounded) for the scheduler's first scan and the agent's first inventory,
    install a package under the agent, print coverage and findings. `agent()` starts the agent."""
    enabled = inspector.enable(resourceTypes=["EC2"])["accounts"]
    account, ec2 = enabled[0]["accountId"], enabled[0]["resourceStatus"]["ec2"]
    print(f"Enable(EC2): account {account} {ec2}", flush=True)
    if agent is not None:
        demo_agent, instance_id = agent()
        print(f"vigil agent register: demo-app-01's agent bound to {instance_id}; `vigil agent run` started",
              flush=True)  # fmt: skip
        _covered(inspector, APP, _agent_based, "receive the agent's first inventory")
        before = _vulnerabilities(inspector, APP)
        name, version, cve = INSTALLED
        started = time.monotonic()
        demo_agent.install(name, version)
        deadline = started + SCAN_WAIT
        while cve not in _vulnerabilities(inspector, APP):
            if time.monotonic() > deadline:
                raise SystemExit("the installed package's finding was not listed in time")
            time.sleep(0.1)
        print(f"installed {name} {version} on demo-app-01 (dpkg status replaced): {cve} listed "
              f"{time.monotonic() - started:.1f} s later, {len(before)} findings before, "
              f"{len(_vulnerabilities(inspector, APP))} now", flush=True)  # fmt: skip
    covered = _covered(inspector, WEB, _scanned, "scan the demo instance")
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
            filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": WEB}], **PACKAGES_ONLY}
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
    show_network(inspector)


def show_network(inspector: Any) -> None:
    """The network analysis: NETWORK coverage, NETWORK_REACHABILITY findings with their paths, and the
    Inspector score lowered on the instance nothing outside its VPC reaches."""
    deadline = time.monotonic() + SCAN_WAIT
    while True:
        criteria = {"scanType": [{"comparison": "EQUALS", "value": "NETWORK"}]}
        network = inspector.list_coverage(filterCriteria=criteria)["coveredResources"]
        if network and all(r["scanStatus"]["reason"] != "PENDING_INITIAL_SCAN" for r in network):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the demo server did not analyse the network in time")
        time.sleep(0.25)
    reasons = ", ".join(sorted(f"{r['resourceId']} {r['scanStatus']['reason']}" for r in network))
    print(f"\nListCoverage, scan type NETWORK: {reasons}")
    findings = [
        f
        for page in inspector.get_paginator("list_findings").paginate(filterCriteria=NETWORK_ONLY)
        for f in page["findings"]
    ]
    print(f"ListFindings of type NETWORK_REACHABILITY: {len(findings)}")
    for f in sorted(findings, key=lambda f: (f["resources"][0]["id"], f["title"])):
        steps = f["networkReachabilityDetails"]["networkPath"]["steps"]
        path = " > ".join(s["componentId"] for s in steps)
        print(f"  {f['severity']:8} {f['resources'][0]['id']}  {f['title']}\n           path: {path}")
    lowered = [
        f
        for page in inspector.get_paginator("list_findings").paginate(
            filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": APP}], **PACKAGES_ONLY},
            sortCriteria={"field": "INSPECTOR_SCORE", "sortOrder": "DESC"},
        )
        for f in page["findings"]
        if f.get("inspectorScoreDetails", {}).get("adjustedCvss", {}).get("adjustments")
    ]
    if lowered:
        f = lowered[0]
        adjusted = f["inspectorScoreDetails"]["adjustedCvss"]
        base = next(
            c for c in f["packageVulnerabilityDetails"]["cvss"] if c["source"] == adjusted["scoreSource"]
        )
        vulnerability = f["packageVulnerabilityDetails"]["vulnerabilityId"]
        print(f"Inspector score on demo-app-01, which nothing outside its VPC reaches: {len(lowered)} "
              f"findings lowered, e.g. {vulnerability} {base['baseScore']} -> {f['inspectorScore']} "
              f"({adjusted['scoringVector']})")  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def run_demo(directory: Path, disk: Path, advisories: Path, rootfs: Path | None = None) -> None:
    """`make run`'s fleet part: prepare, serve, let the scheduler scan and the agent report, print, stop."""
    keys = prepare(directory, disk, advisories)
    process, endpoint = start(directory)
    demo_agent = DemoAgent(directory.parent, rootfs) if rootfs is not None else None
    try:
        print(f"server: {endpoint} (store {directory / 'vigil.db'}), account {keys.account_id}", flush=True)
        agent = None
        if demo_agent is not None:
            agent = lambda: (demo_agent, demo_agent.start(directory, endpoint, keys))  # noqa: E731
        show(client(keys, endpoint), agent)
    finally:
        if demo_agent is not None:
            demo_agent.stop()
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
