"""`vigil agent run` in a network namespace of its own (joined to the host by a veth pair, where `vigil server
run` listens) reports what listens there: Debian's python3 serving a TCP port appears in the server's store
with its process, its executable and the dpkg package that installed it; its loopback port does not. A bad
report signed by hand with the agent's secret is refused in the heartbeat's answer and changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.server import LiveServer, init_server, until

from vigil.agent import protocol
from vigil.fleet.listeners import ListenerReport, ListenerReports
from vigil.store.engine import make_engine, session_factory

PYTHON = "/usr/bin/python3"  # Debian's: python3.11-minimal installed /usr/bin/python3.11
SERVE = """
import socket, sys
served = []
for address, port in (("0.0.0.0", 0), ("127.0.0.1", 0)):
    s = socket.socket()
    s.bind((address, port))
    s.listen()
    served.append(s)
print(" ".join(str(s.getsockname()[1]) for s in served), flush=True)
sys.stdin.read()
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespace() -> Iterator[tuple[str, str]]:
    """A network namespace joined to the host by a veth pair: (namespace, the host's address on the link)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (the CI runs as root)")
    tag = uuid.uuid4().hex[:6]
    name, host_end, ns_end = f"vigil-{tag}", f"vh{tag}", f"vn{tag}"
    subnet = f"10.{210 + int(tag[0], 16)}.{int(tag[1:3], 16)}"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", ns_end, "netns", name)
        _ip("addr", "add", f"{subnet}.1/24", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("-n", name, "addr", "add", f"{subnet}.2/24", "dev", ns_end)
        _ip("-n", name, "link", "set", ns_end, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield name, f"{subnet}.1"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _dpkg_version(package: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                          check=True, timeout=30)  # fmt: skip
    return done.stdout


def agent_in_namespace(
    served: LiveServer, url: str, in_namespace: list[str], state: Path, log: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    """`vigil agent register` with a new activation, then `vigil agent run` (heartbeats every second), both in
    the namespace; the instance it was bound to, and the running agent (its output in `log`)."""
    activation = served.request("POST", "/vigil/v1/activations", json_body={"registrationLimit": 1}).json()
    registered = subprocess.run(
        [*in_namespace, sys.executable, "-m", "vigil", "agent", "register", "--server", url,
         "--activation-id", activation["activationId"], "--activation-code", activation["activationCode"],
         "--ca-cert", str(served.ca_cert), "--state", str(state), "--root", "/"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [*in_namespace, sys.executable, "-m", "vigil", "agent", "run", "--state", str(state),
             "--root", "/", "--heartbeat", "1"],
            stdout=out, stderr=out,
        )  # fmt: skip
    return json.loads(registered.stdout)["instanceId"], agent


def _signed_heartbeat(server: LiveServer, url: str, identity: dict, message: dict) -> httpx.Response:
    body = json.dumps(message).encode()
    headers = protocol.signed_headers(
        identity["secret"], identity["agent_id"], "POST", protocol.HEARTBEAT, body, dt.datetime.now(dt.UTC)
    )
    with httpx.Client(verify=ssl.create_default_context(cafile=str(server.ca_cert)), timeout=30) as http:
        return http.post(url + protocol.HEARTBEAT, content=body, headers=headers)


def test_a_process_listening_in_the_agent_s_namespace_is_stored_with_its_package(tmp_path, namespace):
    if not os.path.exists(PYTHON) or shutil.which("dpkg-query") is None:
        pytest.fail("this test needs Debian's python3 (apt: python3-minimal)")
    name, host_address = namespace
    in_namespace = ["ip", "netns", "exec", name]
    served = LiveServer(tmp_path / "vigil", init_server(tmp_path / "vigil"))
    url = f"https://{host_address}:{_free_port(host_address)}"
    served.start(listen=url.removeprefix("https://"))
    listener = subprocess.Popen([*in_namespace, PYTHON, "-c", SERVE], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    agent: subprocess.Popen[bytes] | None = None
    engine = make_engine(f"sqlite:///{tmp_path / 'vigil' / 'vigil.db'}")
    try:
        assert listener.stdout is not None
        public_port, loopback_port = map(int, listener.stdout.readline().split())
        state, log = tmp_path / "state", tmp_path / "agent.log"
        instance_id, agent = agent_in_namespace(served, url, in_namespace, state, log)
        reports = ListenerReports(session_factory(engine))

        def stored() -> ListenerReport | None:
            return reports.of(served.root.account_id, [instance_id]).get(instance_id)

        report = until(stored, f"the agent's network report\n{log.read_text(errors='replace')[-3000:]}", 60)
        (python,) = report.listening("tcp", public_port)
        assert (python.address, python.process) == ("0.0.0.0", "python3")
        assert python.executable == os.path.realpath(PYTHON)
        assert python.pid == listener.pid  # `ip netns exec` execs the command in its own process
        assert python.package is not None
        assert (python.package.name, python.package.version) == (
            "python3.11-minimal",
            _dpkg_version("python3.11-minimal"),
        )
        assert python.package.purl.startswith("pkg:deb/debian/python3.11-minimal@")
        assert report.listening("tcp", loopback_port) == []  # loopback: nothing outside reaches it
        assert report.firewall_allows("tcp", public_port) in (True, False, None)

        identity = json.loads((state / "identity.json").read_text())
        refused = _signed_heartbeat(
            served,
            url,
            identity,
            {
                "agentVersion": "test",
                "network": {
                    "digest": "0" * 64,
                    "listeners": [{"protocol": "tcp", "address": "0.0.0.0", "port": 99_999}],
                },
            },
        )
        assert refused.status_code == 200, refused.text  # the rest of the heartbeat stands
        answer = refused.json()
        assert answer["instanceId"] == instance_id and "collect" in answer
        assert answer["network"]["error"]["code"] == "InvalidNetworkReport"
        assert "port: an integer, 0 to 65535" in answer["network"]["error"]["message"]
        assert answer["network"]["digest"] == reports.held_digest(served.root.account_id, instance_id)
        kept = stored()
        assert kept is not None and kept.listening("tcp", public_port)  # unchanged
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
        listener.kill()
        listener.wait(30)
        served.stop()
        engine.dispose()
    assert agent.returncode == 0
