"""The fleet's Vigil API routes (`/vigil/v1/providers`, `/instances`, `/scans`), mounted as the lead mounts
them, behind a small stand-in for part A's signature check (the caller from two test headers) and its
rendering of Inspector's errors."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from tests.scanning.fleetkit import ACCOUNT, OTHER, instance, volume, write_fleet

from vigil.api.context import CALLER, Caller
from vigil.api.errors import InspectorError, ValidationException
from vigil.api.vigil_routes.instances import instances_router
from vigil.api.vigil_routes.providers import providers_router
from vigil.api.vigil_routes.scans import scans_router
from vigil.scanning.operations import FleetOperations

WEB, VPN, STOPPED = "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60003"


def _app(fleet: FleetOperations, fleets_dir) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def signed_by(request: Request, call_next):
        account = request.headers.get("x-test-account")
        if account:
            members = frozenset(filter(None, request.headers.get("x-test-members", "").split(",")))
            request.scope[CALLER] = Caller(account, members)
        return await call_next(request)

    @app.exception_handler(InspectorError)
    async def inspector_error(request: Request, exc: InspectorError) -> JSONResponse:
        body = {"message": exc.message}
        if isinstance(exc, ValidationException):
            body |= {
                "reason": exc.reason,
                "fields": [{"name": f.name, "message": f.message} for f in exc.fields],
            }
        return JSONResponse(body, status_code=exc.status, headers={"x-amzn-ErrorType": exc.code})

    for router in (providers_router(fleet, fleets_dir), instances_router(fleet), scans_router(fleet)):
        app.include_router(router, prefix="/vigil/v1")
    return app


@pytest.fixture
def api(world, fleet_dir):
    path = write_fleet(fleet_dir / "fleet.yaml", [
        instance(WEB, [volume("images/web.qcow2", "vol-01")]),
        instance(VPN, [volume("images/vpn.qcow2", "vol-02")]),
        instance(STOPPED, [volume("images/vpn.qcow2", "vol-03")], state="stopped"),
    ])  # fmt: skip
    # fleet files attached over the API lie in the account's own folder of the fleets folder: here both
    # accounts' folders are the same one, so that both may attach the same file
    fleets = fleet_dir.parent / "fleets"
    fleets.mkdir()
    for account in (ACCOUNT, OTHER):
        (fleets / account).symlink_to(fleet_dir, target_is_directory=True)
    client = TestClient(_app(FleetOperations(world.services, world.executor), fleets))
    return world, client, path


def _as(account, members=()):
    return {"x-test-account": account, "x-test-members": ",".join(members)}


def test_an_account_attaches_its_fleet_file_and_sees_its_instances(api):
    _, client, path = api
    response = client.put("/vigil/v1/providers/local", json={"path": str(path)}, headers=_as(ACCOUNT))
    assert response.status_code == 200, response.text
    assert response.json()["discovery"]["new"] == [WEB, VPN, STOPPED]
    (provider,) = client.get("/vigil/v1/providers", headers=_as(ACCOUNT)).json()["providers"]
    assert (provider["accountId"], provider["provider"], provider["config"]) == (
        ACCOUNT,
        "local",
        {"path": str(path)},
    )
    listed = client.get("/vigil/v1/instances", headers=_as(ACCOUNT)).json()["instances"]
    assert [(i["instanceId"], i["coverage"]["reason"]) for i in listed] == [
        (WEB, "PENDING_INITIAL_SCAN"), (VPN, "PENDING_INITIAL_SCAN"), (STOPPED, "EC2_INSTANCE_STOPPED"),
    ]  # fmt: skip
    assert client.get("/vigil/v1/instances", headers=_as(OTHER)).json() == {"instances": []}


def test_a_fleet_file_that_cannot_be_used_is_refused_with_every_problem(api, fleet_dir):
    _, client, _ = api
    broken = fleet_dir / "broken.yaml"
    broken.write_text("instances: [{instanceId: i-1, state: running}]")
    response = client.put("/vigil/v1/providers/local", json={"path": str(broken)}, headers=_as(ACCOUNT))
    assert response.status_code == 400 and response.headers["x-amzn-ErrorType"] == "ValidationException"
    (field,) = response.json()["fields"]
    assert (
        field["name"] == "path" and "instances[0].instanceId: String should match pattern" in field["message"]
    )
    relative = client.put("/vigil/v1/providers/local", json={"path": "fleet.yaml"}, headers=_as(ACCOUNT))
    assert relative.status_code == 400 and "absolute path" in relative.json()["message"]
    unknown = client.put("/vigil/v1/providers/local", json={"path": "/x", "colour": 1}, headers=_as(ACCOUNT))
    assert unknown.status_code == 422
    assert client.delete("/vigil/v1/providers/local", headers=_as(ACCOUNT)).status_code == 404


def test_a_fleet_file_outside_the_servers_fleets_folder_is_refused(api, tmp_path):
    """Another tenant's fleet file (or any file on the server) cannot be attached over the API."""
    _, client, _ = api
    elsewhere = tmp_path / "elsewhere" / "fleet.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("instances: []")
    for path in (str(elsewhere), "/etc/passwd"):
        response = client.put("/vigil/v1/providers/local", json={"path": path}, headers=_as(ACCOUNT))
        assert response.status_code == 403 and "own fleets folder" in response.json()["message"]


def test_scan_now_scans_the_instance_and_its_log_shows_how(api):
    world, client, path = api
    client.put("/vigil/v1/providers/local", json={"path": str(path)}, headers=_as(ACCOUNT))
    response = client.post("/vigil/v1/scans", json={"instanceId": VPN}, headers=_as(ACCOUNT))
    assert response.status_code == 202, response.text
    scan = response.json()
    assert (scan["instanceId"], scan["trigger"], scan["status"], scan["reason"]) == (
        VPN, "request", "SUCCEEDED", "SUCCESSFUL",
    )  # fmt: skip
    assert scan["snapshots"][0]["method"] == "in-place" and world.findings.vulnerabilities(VPN) == {
        "CVE-2023-23009"
    }
    assert client.get(f"/vigil/v1/scans/{scan['scanId']}", headers=_as(ACCOUNT)).json() == scan
    assert client.get("/vigil/v1/scans", params={"instanceId": VPN}, headers=_as(ACCOUNT)).json() == {
        "scans": [scan]
    }
    detail = client.get(f"/vigil/v1/instances/{VPN}", headers=_as(ACCOUNT)).json()
    assert detail["coverage"] == {"statusCode": "ACTIVE", "reason": "SUCCESSFUL", "scanMode": "EC2_AGENTLESS"}
    assert detail["lastScan"]["outcome"] == "SUCCEEDED" and detail["inventoryHash"] == scan["inventoryHash"]


def test_scan_now_is_refused_for_what_cannot_be_scanned(api):
    world, client, path = api
    client.put("/vigil/v1/providers/local", json={"path": str(path)}, headers=_as(ACCOUNT))
    stopped = client.post("/vigil/v1/scans", json={"instanceId": STOPPED}, headers=_as(ACCOUNT))
    assert stopped.status_code == 409 and "EC2_INSTANCE_STOPPED" in stopped.json()["message"]
    queued = world.services.scans.queue(ACCOUNT, WEB, "schedule", world.clock())
    busy = client.post("/vigil/v1/scans", json={"instanceId": WEB}, headers=_as(ACCOUNT))
    assert busy.status_code == 409 and queued.scan_id in busy.json()["message"]
    assert client.post("/vigil/v1/scans", json={"instanceId": WEB}, headers=_as(OTHER)).status_code == 404
    world.accounts.modes[ACCOUNT] = "EC2_SSM_AGENT_BASED"
    unmanaged = client.post("/vigil/v1/scans", json={"instanceId": VPN}, headers=_as(ACCOUNT))
    assert unmanaged.status_code == 409 and "UNMANAGED_EC2_INSTANCE" in unmanaged.json()["message"]
    world.accounts.enabled = {OTHER}
    disabled = client.post("/vigil/v1/scans", json={"instanceId": VPN}, headers=_as(ACCOUNT))
    assert disabled.status_code == 409 and "not enabled" in disabled.json()["message"]
    assert client.post("/vigil/v1/scans", json={"instanceId": ""}, headers=_as(ACCOUNT)).status_code == 422


def test_a_member_reaches_nothing_of_another_account_and_the_administrator_names_the_account(api):
    _, client, path = api
    client.put("/vigil/v1/providers/local", json={"path": str(path)}, headers=_as(ACCOUNT))
    client.put("/vigil/v1/providers/local", json={"path": str(path)}, headers=_as(OTHER))
    scan = client.post("/vigil/v1/scans", json={"instanceId": WEB}, headers=_as(ACCOUNT)).json()
    assert client.get(f"/vigil/v1/scans/{scan['scanId']}", headers=_as(OTHER)).status_code == 404
    assert client.get("/vigil/v1/scans", headers=_as(OTHER)).json() == {"scans": []}
    assert client.get(f"/vigil/v1/instances/{WEB}", headers=_as(OTHER)).json()["accountId"] == OTHER
    admin = _as(ACCOUNT, [OTHER])
    ambiguous = client.get(f"/vigil/v1/instances/{WEB}", headers=admin)
    assert ambiguous.status_code == 400 and ambiguous.json()["fields"][0]["name"] == "accountId"
    named = client.get(f"/vigil/v1/instances/{WEB}", params={"accountId": OTHER}, headers=admin)
    assert named.json()["accountId"] == OTHER
    scanned = client.post("/vigil/v1/scans", json={"instanceId": WEB, "accountId": OTHER}, headers=admin)
    assert scanned.status_code == 202 and scanned.json()["accountId"] == OTHER
    assert client.get("/vigil/v1/providers", headers=admin).json()["providers"][1]["accountId"] == OTHER


def test_instances_come_in_pages_and_by_state(api):
    _, client, path = api
    client.put("/vigil/v1/providers/local", json={"path": str(path)}, headers=_as(ACCOUNT))
    first = client.get("/vigil/v1/instances", params={"maxResults": 2}, headers=_as(ACCOUNT)).json()
    rest = client.get(
        "/vigil/v1/instances", params={"nextToken": first["nextToken"]}, headers=_as(ACCOUNT)
    ).json()
    assert [i["instanceId"] for i in first["instances"] + rest["instances"]] == [WEB, VPN, STOPPED]
    stopped = client.get("/vigil/v1/instances", params={"state": "stopped"}, headers=_as(ACCOUNT)).json()
    assert [i["instanceId"] for i in stopped["instances"]] == [STOPPED]
    bad = client.get("/vigil/v1/instances", params={"state": "asleep"}, headers=_as(ACCOUNT))
    assert bad.status_code == 400 and bad.json()["fields"][0]["name"] == "state"
    assert (
        client.get("/vigil/v1/instances", params={"nextToken": "zz"}, headers=_as(ACCOUNT)).status_code == 400
    )


def test_detaching_the_fleet_file_makes_its_instances_vanish(api):
    world, client, path = api
    client.put("/vigil/v1/providers/local", json={"path": str(path)}, headers=_as(ACCOUNT))
    detached = client.delete("/vigil/v1/providers/local", headers=_as(ACCOUNT)).json()
    assert detached["discovery"]["vanished"] == [WEB, VPN, STOPPED]
    assert {
        i["coverage"]["reason"]
        for i in client.get("/vigil/v1/instances", headers=_as(ACCOUNT)).json()["instances"]
    } == {"RESOURCE_TERMINATED"}
    assert sorted(world.findings.closed) == [(ACCOUNT, i, "RESOURCE_TERMINATED") for i in (WEB, VPN, STOPPED)]


def test_the_routes_are_described_by_the_openapi_document(api):
    _, client, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/vigil/v1/providers/local", "/vigil/v1/providers", "/vigil/v1/instances",
            "/vigil/v1/instances/{instance_id}", "/vigil/v1/scans", "/vigil/v1/scans/{scan_id}"} <= set(paths)  # fmt: skip
    assert paths["/vigil/v1/scans"]["post"]["requestBody"]["content"]["application/json"]
