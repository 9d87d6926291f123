"""The agent protocol and the Vigil API's activations and associations, against a real server process over
TLS on loopback: what an agent program cannot be made to send (forged, replayed, cross-instance requests)
is sent here by hand, signed or not; the agent program's own tests run it as a process."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from typing import Any

import httpx
import pytest
from tests.support.cli import vigil
from tests.support.server import LiveServer, init_server, until

from vigil.agent import protocol

WAIT = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("agent-protocol") / "vigil"
    served = LiveServer(directory, init_server(directory))
    served.update_settings(
        schedule={"reconcile": dt.timedelta(seconds=2), "reevaluate": dt.timedelta(seconds=1)}
    )
    served.start()
    served.client().enable(resourceTypes=["EC2"])
    yield served
    served.stop()


def _post(
    server: LiveServer, path: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(server.ca_cert))
    with httpx.Client(verify=context, timeout=30) as http:
        return http.post(server.endpoint + path, content=body, headers=headers or {})


def _register(server: LiveServer, **activation: Any) -> dict[str, Any]:
    created = server.request(
        "POST", "/vigil/v1/activations", json_body=activation or {"registrationLimit": 5}
    )
    assert created.status_code == 201, created.text
    body = json.dumps(
        {"activationId": created.json()["activationId"], "activationCode": created.json()["activationCode"],
         "platform": "LINUX", "hints": {"hostname": "db-01"}}
    ).encode()  # fmt: skip
    answer = _post(server, protocol.REGISTER, body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _signed(server: LiveServer, agent: dict[str, Any], path: str, message: dict[str, Any]) -> httpx.Response:
    body = json.dumps(message).encode()
    headers = protocol.signed_headers(
        agent["secret"], agent["agentId"], "POST", path, body, dt.datetime.now(dt.UTC)
    )
    return _post(server, path, body, headers)


def _until(condition, what: str, timeout: float = WAIT):
    return until(condition, what, timeout)


def test_an_agent_registers_with_an_activation_and_heartbeats_its_configuration(server):
    agent = _register(server, registrationLimit=1, defaultInstanceName="db-01", tags={"Team": "db"})
    assert agent["instanceId"].startswith("mi-") and agent["accountId"] == server.root.account_id
    beat = _signed(server, agent, protocol.HEARTBEAT, {"agentVersion": "test"})
    assert beat.status_code == 200, beat.text
    answer = beat.json()
    assert answer["instanceId"] == agent["instanceId"] and answer["excluded"] is False
    assert answer["collect"] == {"os": {"every": 1800}, "full": {"every": 21600, "paths": []}}
    names = {a["name"] for a in answer["associations"]}
    assert {protocol.INVENTORY_ASSOCIATION, protocol.LINUX_PLUGIN, protocol.LINUX_DISTRIBUTOR} <= names
    assert protocol.WINDOWS_PLUGIN not in names  # a Linux instance's associations only

    listed = server.request("GET", "/vigil/v1/agents").json()["agents"]
    assert agent["instanceId"] in {a["instanceId"] for a in listed}
    coverage = server.client().list_coverage()["coveredResources"]
    (managed,) = [c for c in coverage if c["resourceId"] == agent["instanceId"]]
    assert managed["scanStatus"] == {"statusCode": "INACTIVE", "reason": "NO_INVENTORY"}
    assert managed["resourceMetadata"]["ec2"]["tags"] == {"Team": "db", "Name": "db-01"}


def test_an_activation_used_up_expired_or_wrong_is_refused(server):
    created = server.request("POST", "/vigil/v1/activations", json_body={"registrationLimit": 1}).json()
    body = json.dumps({"activationId": created["activationId"], "activationCode": created["activationCode"]})
    assert _post(server, protocol.REGISTER, body.encode()).status_code == 201
    again = _post(server, protocol.REGISTER, body.encode())
    assert (again.status_code, again.json()["code"]) == (403, "ActivationLimitExceeded")
    wrong = json.dumps({"activationId": created["activationId"], "activationCode": "x" * 20}).encode()
    assert _post(server, protocol.REGISTER, wrong).json()["code"] == "InvalidActivation"
    too_late = server.request(
        "POST", "/vigil/v1/activations", json_body={"expirationDate": "2001-01-01T00:00:00Z"}
    )
    assert too_late.status_code == 400 and too_late.headers["x-amzn-ErrorType"] == "ValidationException"


def test_forged_replayed_and_cross_instance_requests_are_refused_and_counted(server):
    agent, other = _register(server), _register(server)
    body = json.dumps({"agentVersion": "test"}).encode()
    headers = protocol.signed_headers(
        agent["secret"], agent["agentId"], "POST", protocol.HEARTBEAT, body, dt.datetime.now(dt.UTC)
    )
    assert _post(server, protocol.HEARTBEAT, body, headers).status_code == 200
    replayed = _post(server, protocol.HEARTBEAT, body, headers)
    assert (replayed.status_code, replayed.json()["code"]) == (401, "ReplayedRequest")
    as_other = {**headers, protocol.AGENT_HEADER: other["agentId"], protocol.NONCE_HEADER: "ab" * 16}
    assert _post(server, protocol.HEARTBEAT, body, as_other).json()["code"] == "InvalidSignature"
    unsigned = _post(server, protocol.HEARTBEAT, body)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "MissingSignature")
    skewed = protocol.signed_headers(
        agent["secret"], agent["agentId"], "POST", protocol.HEARTBEAT, body,
        dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6),
    )  # fmt: skip
    assert _post(server, protocol.HEARTBEAT, body, skewed).json()["code"] == "RequestTimeTooSkewed"
    cross = _signed(
        server, agent, protocol.INVENTORY,
        {"kind": "os", "contentHash": "0" * 64, "instanceId": other["instanceId"], "document": {}},
    )  # fmt: skip
    assert (cross.status_code, cross.json()["code"]) == (403, "CrossInstanceWrite")
    log = server.log.read_text()
    assert "agent request refused (ReplayedRequest)" in log and "(CrossInstanceWrite)" in log
    assert "refused since start]" in log


def test_a_deleted_association_comes_back_and_a_schedule_edit_reaches_the_agents(server):
    agent = _register(server)
    deleted = server.request("DELETE", f"/vigil/v1/associations/{protocol.INVENTORY_ASSOCIATION}")
    assert deleted.status_code == 200, deleted.text

    def collect() -> dict[str, Any]:
        return _signed(server, agent, protocol.HEARTBEAT, {}).json()["collect"]

    listed = server.request("GET", "/vigil/v1/associations").json()["associations"]
    if protocol.INVENTORY_ASSOCIATION not in {a["name"] for a in listed}:
        assert collect()["os"] is None  # not re-created yet: nothing collects the OS inventory
    _until(lambda: collect()["os"] == {"every": 1800}, "the inventory association re-created")
    edited = server.request(
        "PUT", f"/vigil/v1/associations/{protocol.INVENTORY_ASSOCIATION}",
        json_body={"scheduleExpression": "rate(1 hour)"},
    )  # fmt: skip
    assert edited.status_code == 200 and edited.json()["scheduleExpression"] == "rate(1 hour)"
    assert collect()["os"] == {"every": 3600}
    refused = server.request(
        "PUT",
        f"/vigil/v1/associations/{protocol.LINUX_PLUGIN}",
        json_body={"scheduleExpression": "rate(5 minutes)"},
    )
    assert refused.status_code == 400


def test_deep_inspection_deactivated_stops_the_plugin_and_disabling_removes_the_associations(server):
    agent = _register(server)
    client = server.client()
    client.update_ec2_deep_inspection_configuration(activateDeepInspection=False)
    try:
        assert _signed(server, agent, protocol.HEARTBEAT, {}).json()["collect"]["full"] is None
    finally:
        client.update_ec2_deep_inspection_configuration(activateDeepInspection=True)
    member = server.new_account("member")
    member_client = server.client(member)
    member_client.enable(resourceTypes=["EC2"])

    def names():
        return {
            a["name"]
            for a in server.request("GET", "/vigil/v1/associations", keys=member).json()["associations"]
        }

    assert len(names()) == 6
    member_client.disable(resourceTypes=["EC2"])
    assert names() == set()


def test_the_cli_makes_an_activation(server):
    printed = vigil(
        "server", "activation", "create", str(server.dir), "--account", server.root.account_id,
        "--limit", "3", "--expires", "2h", "--tag", "Env=test", "--name", "cli-01",
    )  # fmt: skip
    created = json.loads(printed.stdout)
    assert set(created) == {"activationId", "activationCode"} and len(created["activationCode"]) == 20
    listed = server.request("GET", "/vigil/v1/activations").json()["activations"]
    (shown,) = [a for a in listed if a["activationId"] == created["activationId"]]
    assert (
        shown["registrationLimit"] == 3 and shown["tags"] == {"Env": "test"} and "activationCode" not in shown
    )
    bad = vigil("server", "activation", "create", str(server.dir), "--account", server.root.account_id,
                "--expires", "90d", check=False)  # fmt: skip
    assert bad.returncode == 1 and "--expires" in bad.stderr
