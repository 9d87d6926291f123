"""Agents as real processes (`vigil agent register` / `vigil agent run`, each on its own `--root` tree) against a
real server (`vigil server run`) over TLS: a package installed reaches the findings within 60 s, a server
restart and an outage lose nothing, and agents in network namespaces of their own (a veth pair each to the
host, where the server listens) register from their own addresses as separate machines.

The advisories are Debian's real DSA list: multipath-tools 0.8.5-2 has CVE-2022-41973 and CVE-2022-41974
(DSA-5366, fixed in 0.8.5-2+deb11u1).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.scanning.fleetkit import debian_tree
from tests.support.cli import vigil
from tests.support.server import LiveServer, init_server, until

FIXTURES = Path(__file__).resolve().parents[1] / "advisories" / "importers" / "fixtures"
FIXED = (("libreswan", "4.3-1+deb11u3", None), ("base-files", "11.1+deb11u5", None))
INSTALLED = {"CVE-2022-41973", "CVE-2022-41974"}
CHANGE_DEADLINE = 60.0  # the bound: a package database change reaches the findings within it
WAIT = 60.0


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _until(condition, what: str, timeout: float = WAIT):
    return until(condition, what, timeout)


class Agent:
    """One agent: its root tree, its state folder, its `vigil agent run` process."""

    def __init__(self, work: Path, name: str, netns: str | None = None) -> None:
        self.root = debian_tree(work / f"{name}-root", FIXED)
        (self.root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        self.state = work / f"{name}-state"
        self.log = work / f"{name}.log"
        self.netns = netns
        self.process: subprocess.Popen[bytes] | None = None
        self.instance_id = ""

    def _command(self, *args: str) -> list[str]:
        command = [sys.executable, "-m", "vigil", "agent", *args]
        return ["ip", "netns", "exec", self.netns, *command] if self.netns else command

    def register(self, server: LiveServer, activation: dict[str, str], url: str | None = None) -> str:
        done = subprocess.run(
            self._command(
                "register", "--server", url or server.endpoint, "--activation-id", activation["activationId"],
                "--activation-code", activation["activationCode"], "--ca-cert", str(server.ca_cert),
                "--state", str(self.state), "--root", str(self.root),
            ),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        self.instance_id = json.loads(done.stdout)["instanceId"]
        assert oct(self.state.stat().st_mode & 0o777) == "0o700"
        return self.instance_id

    def start(self) -> Agent:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(
                    "run", "--state", str(self.state), "--root", str(self.root), "--heartbeat", "2"
                ),
                stdout=log,
                stderr=log,
            )
        return self

    def install(self, name: str, version: str) -> None:
        """What dpkg does: the new status written beside the old one, then renamed over it."""
        status = self.root / "var/lib/dpkg/status"
        text = status.read_text().rstrip("\n")
        new = status.with_name("status-new")
        new.write_text(
            f"{text}\n\nPackage: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        )
        os.replace(new, status)

    def upgrade(self, name: str, version: str) -> None:
        status = self.root / "var/lib/dpkg/status"
        stanzas = status.read_text().split("\n\n")
        for i, stanza in enumerate(stanzas):
            if stanza.startswith(f"Package: {name}\n"):
                stanzas[i] = "\n".join(
                    f"Version: {version}" if line.startswith("Version: ") else line
                    for line in stanza.splitlines()
                )
        new = status.with_name("status-new")
        new.write_text("\n\n".join(stanzas))
        os.replace(new, status)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the agent did not stop:\n{self.log.read_text()[-3000:]}") from None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _server(directory: Path, listen: str) -> LiveServer:
    served = LiveServer(directory, init_server(directory))
    served.update_settings(schedule={"reevaluate": dt.timedelta(seconds=1)})
    vigil("db", "import", FIXTURES / "debian" / "DSA-list", "--db", directory / "advisories.db")
    served.start(listen=listen)
    client = served.client()
    client.enable(resourceTypes=["EC2"])
    client.update_configuration(ec2Configuration={"scanMode": "EC2_SSM_AGENT_BASED"})
    return served


def _vulnerabilities(server: LiveServer, instance_id: str) -> set[str]:
    pages = (
        server.client()
        .get_paginator("list_findings")
        .paginate(
            filterCriteria={
                "resourceId": [{"comparison": "EQUALS", "value": instance_id}],
                "findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}],
            }
        )
    )
    return {f["packageVulnerabilityDetails"]["vulnerabilityId"] for page in pages for f in page["findings"]}


def _coverage(server: LiveServer, instance_id: str) -> dict:
    (covered,) = [
        c for c in server.client().list_coverage()["coveredResources"] if c["resourceId"] == instance_id
    ]
    return covered


@pytest.fixture
def work(tmp_path) -> Path:
    return tmp_path


def test_a_package_installed_reaches_the_findings_within_a_minute_and_an_outage_loses_nothing(work):
    port = _free_port()
    server = _server(work / "vigil", f"127.0.0.1:{port}")
    activation = server.request("POST", "/vigil/v1/activations", json_body={"registrationLimit": 1}).json()
    agent = Agent(work, "db-01")
    instance_id = agent.register(server, activation)
    agent.start()
    try:
        _until(
            lambda: _coverage(server, instance_id)["scanStatus"]["reason"] == "SUCCESSFUL",
            "the first inventory",
        )
        covered = _coverage(server, instance_id)
        assert covered["scanMode"] == "EC2_SSM_AGENT_BASED"
        assert not INSTALLED & _vulnerabilities(server, instance_id)  # (Debian 11's end of life is one)

        changed = time.monotonic()
        agent.install("multipath-tools", "0.8.5-2")  # as `apt install` leaves it, before its security update
        _until(
            lambda: _vulnerabilities(server, instance_id) >= INSTALLED, "the new findings", CHANGE_DEADLINE
        )
        took = time.monotonic() - changed
        print(f"package database change to finding listed: {took:.1f} s")
        assert took < CHANGE_DEADLINE

        # the server stops; meanwhile the package is fixed; the agent keeps the inventory and retries
        assert server.stop() == 0
        agent.upgrade("multipath-tools", "0.8.5-2+deb11u1")
        _until(lambda: "retrying in" in agent.log_text(), "the agent noticing the outage", 30)
        server.start(listen=f"127.0.0.1:{port}")  # the same address, all its state
        _until(
            lambda: not INSTALLED & _vulnerabilities(server, instance_id),
            "the fix delivered after the outage",
        )
        assert agent.process is not None and agent.process.poll() is None  # it rode the outage out
        accepted = [line for line in agent.log_text().splitlines() if line.endswith(" accepted")]
        assert len(accepted) == len(set(accepted)) >= 3  # no inventory delivered twice
    finally:
        code = agent.stop()
        server.stop()
    assert code == 0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespaces() -> Iterator[list[tuple[str, str, str]]]:
    """Two network namespaces, each joined to the host by a veth pair: (namespace, its address, the host's
    address on its link). The server listens on the first link's host address; the second namespace
    reaches it through its own link (the host answers for all its addresses)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (the CI runs as root)")
    tag = uuid.uuid4().hex[:6]
    made: list[tuple[str, str, str]] = []
    try:
        for index in (1, 2):
            namespace, host_end, ns_end = f"vigil-{tag}-{index}", f"vh{tag}{index}", f"vn{tag}{index}"
            subnet = f"10.{200 + index}.{int(tag[:2], 16)}"
            _ip("netns", "add", namespace)
            made.append((namespace, f"{subnet}.2", f"{subnet}.1"))
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", ns_end, "netns", namespace)
            _ip("addr", "add", f"{subnet}.1/24", "dev", host_end)
            _ip("link", "set", host_end, "up")
            _ip("-n", namespace, "addr", "add", f"{subnet}.2/24", "dev", ns_end)
            _ip("-n", namespace, "link", "set", ns_end, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "route", "add", "default", "via", f"{subnet}.1")
        yield made
    finally:
        for namespace, _, _ in made:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        for index in (1, 2):
            subprocess.run(["ip", "link", "del", f"vh{tag}{index}"], capture_output=True, timeout=30)


def test_agents_in_their_own_network_namespaces_are_separate_machines(work, namespaces):
    (first, first_address, host_address), (second, second_address, _) = namespaces
    port = _free_port(host_address)
    server = _server(work / "vigil", f"{host_address}:{port}")
    activation = server.request(
        "POST", "/vigil/v1/activations", json_body={"registrationLimit": 2, "tags": {"site": "lab"}}
    ).json()
    agents = [Agent(work, "ns-a", first), Agent(work, "ns-b", second)]
    try:
        ids = [agent.register(server, activation, url=f"https://{host_address}:{port}") for agent in agents]
        assert len(set(ids)) == 2 and all(i.startswith("mi-") for i in ids)
        for agent in agents:
            agent.start()
        for instance_id in ids:
            _until(
                lambda i=instance_id: _coverage(server, i)["scanStatus"]["reason"] == "SUCCESSFUL",
                "inventories",
            )
        listed = {a["instanceId"]: a for a in server.request("GET", "/vigil/v1/agents").json()["agents"]}
        assert listed[ids[0]]["machine"]["sourceAddress"] == first_address
        assert listed[ids[1]]["machine"]["sourceAddress"] == second_address
        instances = {
            i["instanceId"]: i for i in server.request("GET", "/vigil/v1/instances").json()["instances"]
        }
        assert instances[ids[0]]["ipV4Addresses"] == [first_address]
        assert instances[ids[1]]["ipV4Addresses"] == [second_address]
        agents[1].install("multipath-tools", "0.8.5-2")
        _until(lambda: _vulnerabilities(server, ids[1]) >= INSTALLED, "the second machine's findings")
        assert not INSTALLED & _vulnerabilities(server, ids[0])  # its own instance's data only
    finally:
        for agent in agents:
            if agent.process is not None:
                agent.stop()
        server.stop()
