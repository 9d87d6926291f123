"""`/vigil/v1/associations` through the app as the server assembles it (`create_app`): SigV4-signed requests
(service `vigil`) with accounts' own keys, a delegated administrator and its member, an outsider; errors in
Inspector's shape."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fastapi.testclient import TestClient

from vigil.agent.protocol import INVENTORY_ASSOCIATION, INVENTORY_DOCUMENT, LINUX_PLUGIN, SYNC_ASSOCIATION
from vigil.api.app import create_app
from vigil.api.vigil_routes.associations import associations_router
from vigil.fleet.accounts import AccountsService, NewAccount
from vigil.fleet.associations import AssociationsService
from vigil.fleet.organizations import OrganizationsService
from vigil.server.keyfile import KeyFile
from vigil.server.settings import Settings
from vigil.store.engine import session_factory

START = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


class Api:
    """The app, its accounts, and requests signed with an account's keys at the test clock's time."""

    def __init__(self, client: TestClient, region: str, accounts: dict[str, NewAccount]) -> None:
        self.client = client
        self.region = region
        self.accounts = accounts

    def id(self, who: str) -> str:
        return self.accounts[who].account_id

    def call(self, who: str, method: str, path: str, *, body=None, params=None, signed: bool = True):
        target = "/vigil/v1" + path + (f"?{urlencode(params)}" if params else "")
        content = b"" if body is None else json.dumps(body).encode()
        request = AWSRequest(
            method=method, url="http://testserver" + target, data=content,
            headers={"content-type": "application/json"},
        )  # fmt: skip
        if signed:
            keys = self.accounts[who]
            credentials = Credentials(keys.access_key_id, keys.secret_access_key)
            SigV4Auth(credentials, "vigil", self.region).add_auth(request)
        return self.client.request(method, target, content=content, headers=dict(request.headers.items()))


@pytest.fixture
def api(store_engine, tmp_path, monkeypatch):
    now = START
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    sessions = session_factory(store_engine)
    accounts = AccountsService(sessions, KeyFile.create(tmp_path / "secrets.key"), lambda: now)
    organizations = OrganizationsService(sessions, lambda: now)
    made = {who: accounts.create_account(who) for who in ("management", "admin", "member", "outsider")}
    organizations.enable_delegated_admin(made["management"].account_id, made["admin"].account_id)
    organizations.associate(made["admin"].account_id, made["member"].account_id)
    associations = AssociationsService(sessions, lambda: now)
    associations.reconcile(a.account_id for a in made.values())
    settings = Settings(dir=tmp_path)
    app = create_app(settings, keys=accounts, routers=[associations_router(associations)], clock=lambda: now)
    return Api(TestClient(app), settings.region, made)


def _names(response):
    assert response.status_code == 200, response.text
    return [(a["accountId"], a["name"]) for a in response.json()["associations"]]


def test_a_member_sees_its_own_associations_and_no_other_accounts(api):
    listed = _names(api.call("member", "GET", "/associations"))
    assert {account for account, _ in listed} == {api.id("member")} and len(listed) == 6
    assert listed == sorted(listed)
    outsider = api.call("member", "GET", "/associations", params={"accountId": api.id("outsider")})
    assert outsider.status_code == 403
    assert outsider.headers["x-amzn-errortype"] == "AccessDeniedException"
    edit = api.call("member", "PUT", f"/associations/{LINUX_PLUGIN}",
                    body={"scheduleExpression": "rate(1 hour)", "accountId": api.id("outsider")})  # fmt: skip
    assert edit.status_code == 403
    delete = api.call(
        "member", "DELETE", f"/associations/{LINUX_PLUGIN}", params={"accountId": api.id("admin")}
    )
    assert delete.status_code == 403
    assert len(_names(api.call("outsider", "GET", "/associations"))) == 6


def test_the_delegated_administrator_sees_and_edits_its_members_associations(api):
    listed = _names(api.call("admin", "GET", "/associations"))
    assert {account for account, _ in listed} == {api.id("admin"), api.id("member")}
    only = _names(api.call("admin", "GET", "/associations", params={"accountId": api.id("member")}))
    assert {account for account, _ in only} == {api.id("member")}
    edited = api.call("admin", "PUT", f"/associations/{LINUX_PLUGIN}",
                      body={"scheduleExpression": "rate(1 hour)", "accountId": api.id("member")})  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["accountId"] == api.id("member")
    assert edited.json()["scheduleExpression"] == "rate(1 hour)" and edited.json()["status"] == "Success"


def test_an_account_edits_a_schedule_and_a_bad_one_is_a_validation_exception(api):
    good = api.call(
        "member",
        "PUT",
        f"/associations/{INVENTORY_ASSOCIATION}",
        body={"scheduleExpression": "rate(2 hours)"},
    )
    assert good.status_code == 200 and good.json()["scheduleExpression"] == "rate(2 hours)"
    for expression, problem in [
        ("cron(0 12 * * ? *)", "a schedule is rate("),
        ("rate(10 minutes)", "30 minutes"),
    ]:
        bad = api.call(
            "member", "PUT", f"/associations/{LINUX_PLUGIN}", body={"scheduleExpression": expression}
        )
        assert bad.status_code == 400 and bad.headers["x-amzn-errortype"] == "ValidationException"
        (field,) = bad.json()["fields"]
        assert field["name"] == "scheduleExpression" and problem in field["message"]
    unknown = api.call("member", "PUT", f"/associations/{LINUX_PLUGIN}", body={"schedule": "rate(1 hour)"})
    assert unknown.status_code == 400 and unknown.json()["reason"] == "FIELD_VALIDATION_FAILED"
    no_schedule = api.call(
        "member", "PUT", f"/associations/{SYNC_ASSOCIATION}", body={"scheduleExpression": "rate(1 hour)"}
    )
    assert no_schedule.status_code == 400


def test_an_account_brings_its_own_inventory_association_and_inspectors_goes(api):
    body = {"document": INVENTORY_DOCUMENT, "targets": [{"Key": "InstanceIds", "Values": ["*"]}],
            "scheduleExpression": "rate(1 hour)", "parameters": {"applications": "Enabled"}}  # fmt: skip
    made = api.call("member", "PUT", "/associations/MyInventory", body=body)
    assert made.status_code == 200, made.text
    assert (made.json()["owner"], made.json()["scheduleExpression"]) == ("user", "rate(1 hour)")
    names = [name for _, name in _names(api.call("member", "GET", "/associations"))]
    assert "MyInventory" in names and INVENTORY_ASSOCIATION not in names


def test_deleting_an_association_and_an_unknown_one(api):
    deleted = api.call("member", "DELETE", f"/associations/{LINUX_PLUGIN}")
    assert deleted.status_code == 200 and deleted.json() == {}
    again = api.call("member", "DELETE", f"/associations/{LINUX_PLUGIN}")
    assert again.status_code == 404 and again.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    edit = api.call(
        "member", "PUT", f"/associations/{LINUX_PLUGIN}", body={"scheduleExpression": "rate(1 hour)"}
    )
    assert edit.status_code == 404 and "re-created" in edit.json()["message"]


def test_an_unsigned_request_is_refused(api):
    response = api.call("member", "GET", "/associations", signed=False)
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_the_routes_are_described_by_the_openapi_document(api):
    paths = api.call("member", "GET", "/openapi.json", signed=False).json()["paths"]
    assert {"/associations", "/associations/{name}"} <= set(paths)
    assert set(paths["/associations/{name}"]) == {"put", "delete"}
    assert "30 minutes" in paths["/associations/{name}"]["put"]["description"]
    assert paths["/associations"]["get"]["description"]
