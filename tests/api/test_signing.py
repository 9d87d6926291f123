"""SigV4 on every route of a live server: only a request signed with an account's own secret, for the route's
service and the server's region, within 5 minutes, over the body it carries, gets through."""

from __future__ import annotations

import datetime as dt
import json

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.support.server import Keys


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_the_printed_keys_sign_requests_that_the_server_accepts(live_server):
    status = live_server.client().batch_get_account_status()
    assert [a["accountId"] for a in status["accounts"]] == [live_server.root.account_id]


def test_a_wrong_secret_is_refused_as_a_signature_mismatch(live_server):
    forged = Keys(
        live_server.root.account_id,
        live_server.root.access_key_id,
        "not-the-secret-at-all-000000000000000000",
    )
    with pytest.raises(ClientError) as excinfo:
        live_server.client(forged).batch_get_account_status()
    assert _code(excinfo) == "InvalidSignatureException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature we calculated does not match" in excinfo.value.response["Error"]["Message"]


def test_an_access_key_the_server_never_issued_is_unrecognized(live_server):
    stranger = Keys("000000000000", "VIGLAAAAAAAAAAAAAAAA", live_server.root.secret_access_key)
    with pytest.raises(ClientError) as excinfo:
        live_server.client(stranger).batch_get_account_status()
    assert _code(excinfo) == "UnrecognizedClientException"


def test_a_request_signed_for_another_region_is_refused(live_server):
    with pytest.raises(ClientError) as excinfo:
        live_server.client(region_name="eu-west-1").batch_get_account_status()
    assert _code(excinfo) == "InvalidSignatureException"
    assert "region" in excinfo.value.response["Error"]["Message"]


def test_an_inspector_route_signed_for_the_vigil_service_is_refused(live_server):
    response = live_server.request("POST", "/status/batch/get", json_body={}, service="vigil")
    assert live_server.request("POST", "/status/batch/get", json_body={}).status_code == 200
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert "inspector2" in response.json()["message"]


def test_a_vigil_route_signed_for_inspector2_is_refused(live_server):
    response = live_server.request("GET", "/vigil/v1/database", service="inspector2")
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert live_server.request("GET", "/vigil/v1/database").status_code == 200


@pytest.mark.parametrize("skew", [dt.timedelta(minutes=-6), dt.timedelta(minutes=6)])
def test_a_request_signed_six_minutes_off_the_servers_clock_is_refused(live_server, monkeypatch, skew):
    client = live_server.client(live_server.new_account("skewed"))
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None) + skew
    )
    with pytest.raises(ClientError) as excinfo:
        client.batch_get_account_status()
    assert _code(excinfo) == "InvalidSignatureException"
    assert "Signature expired" in str(excinfo.value) or "not yet current" in str(excinfo.value)


def test_four_minutes_off_is_within_the_window(live_server, monkeypatch):
    client = live_server.client(live_server.new_account("slightly-skewed"))
    off = dt.timedelta(minutes=-4)
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None) + off
    )
    assert client.batch_get_account_status()["accounts"]


def test_a_signed_request_replayed_with_an_altered_body_is_refused(live_server):
    member = live_server.new_account("victim")
    signed = {"accountIds": [live_server.root.account_id]}
    altered = json.dumps({"accountIds": [member.account_id]}).encode()
    response = live_server.request("POST", "/status/batch/get", json_body=signed, content=altered)
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert live_server.request("POST", "/status/batch/get", json_body=signed).status_code == 200


def test_a_body_hash_header_that_lies_about_the_body_is_refused(live_server):
    credentials = Credentials(live_server.root.access_key_id, live_server.root.secret_access_key)

    def sign_with_hash_of_other_body(request):
        request.headers["X-Amz-Content-SHA256"] = "0" * 64
        SigV4Auth(credentials, "inspector2", live_server.region).add_auth(request)

    response = live_server.request(
        "POST", "/status/batch/get", json_body={}, sign=sign_with_hash_of_other_body
    )
    assert response.status_code == 403
    assert "x-amz-content-sha256" in response.json()["message"]


def test_an_unsigned_request_is_refused_on_every_kind_of_route(live_server):
    def unsigned(request):
        return None

    for method, path in [("POST", "/enable"), ("GET", "/vigil/v1/database"), ("POST", "/no/such/route")]:
        response = live_server.request(method, path, json_body={}, sign=unsigned)
        assert response.status_code == 403, path
        assert response.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_the_openapi_document_is_public(live_server):
    def unsigned(request):
        return None

    response = live_server.request("GET", "/vigil/v1/openapi.json", sign=unsigned)
    assert response.status_code == 200
    assert "/database" in response.json()["paths"]
