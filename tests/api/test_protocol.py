"""The Inspector2 protocol of a live server, as botocore's model describes it: routes, input validation with
Inspector's `ValidationException`, output with no member the model lacks, errors botocore reads."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

MODEL = botocore.session.get_session().get_service_model("inspector2")


def _unmodelled(shape, value, where="") -> list[str]:
    """Members of a raw JSON response that its shape does not have."""
    if shape.type_name == "structure":
        return [
            problem
            for name, item in value.items()
            for problem in (
                [f"{where}.{name}"]
                if name not in shape.members
                else _unmodelled(shape.members[name], item, f"{where}.{name}")
            )
        ]
    if shape.type_name == "list":
        return [p for i, item in enumerate(value) for p in _unmodelled(shape.member, item, f"{where}[{i}]")]
    return []


def test_answers_carry_only_members_of_the_output_shape(live_server):
    member = live_server.new_account("shape")
    live_server.client().enable_delegated_admin_account(delegatedAdminAccountId=member.account_id)
    calls = [
        ("BatchGetAccountStatus", "/status/batch/get", {}),
        ("Enable", "/enable", {"resourceTypes": ["EC2"]}),
        ("GetConfiguration", "/configuration/get", {}),
        ("GetEc2DeepInspectionConfiguration", "/ec2deepinspectionconfiguration/get", {}),
        ("GetMember", "/members/get", {"accountId": member.account_id}),
        ("GetDelegatedAdminAccount", "/delegatedadminaccounts/get", {}),
        ("ListDelegatedAdminAccounts", "/delegatedadminaccounts/list", {}),
    ]
    for operation, path, body in calls:
        response = live_server.request(
            "POST", path, json_body=body, keys=member if operation == "GetMember" else None
        )
        assert response.status_code == 200, (operation, response.text)
        document = response.json()
        assert document, operation
        assert _unmodelled(MODEL.operation_model(operation).output_shape, document) == [], operation


def test_timestamps_go_out_as_epoch_seconds(live_server):
    keys = live_server.new_account("times")
    document = live_server.request(
        "POST", "/members/get", json_body={"accountId": keys.account_id}, keys=keys
    ).json()
    assert isinstance(document["member"]["updatedAt"], float | int)


def test_the_request_id_header_is_botocores_request_id(live_server):
    response = live_server.client().batch_get_account_status()
    metadata = response["ResponseMetadata"]
    assert metadata["RequestId"] and metadata["RequestId"] == metadata["HTTPHeaders"]["x-amzn-requestid"]


def test_a_member_the_model_lacks_is_refused_with_its_name(live_server):
    response = live_server.request(
        "POST", "/status/batch/get", json_body={"accountIds": [], "colour": "blue"}
    )
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    body = response.json()
    assert body["reason"] == "FIELD_VALIDATION_FAILED"
    assert [f["name"] for f in body["fields"]] == ["input"] and "colour" in body["fields"][0]["message"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"accountIds": "123456789012"}, "accountIds", "Invalid type"),
        ({"accountIds": ["12345"]}, "accountIds[0]", "valid min length: 12"),
        ({"accountIds": ["1234567890123"]}, "accountIds[0]", "valid max length: 12"),
        ({"accountIds": ["12345678901x"]}, "accountIds[0]", "pattern"),
    ],
)
def test_a_wrong_value_names_the_member_botocore_would_name(live_server, body, field, says):
    response = live_server.request("POST", "/status/batch/get", json_body=body)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert {f["name"] for f in fields} == {field}
    assert any(says in f["message"] for f in fields)


def test_numbers_above_the_models_maximum_and_booleans_for_numbers_are_refused(live_server):
    with pytest.raises(ClientError) as excinfo:
        live_server.client().list_members(maxResults=51)
    assert excinfo.value.response["fields"][0]["name"] == "maxResults"
    response = live_server.request("POST", "/members/list", json_body={"maxResults": True})
    assert response.status_code == 400 and response.json()["fields"][0]["name"] == "maxResults"


def test_a_missing_required_member_is_named(live_server):
    response = live_server.request("POST", "/members/get", json_body={})
    assert response.status_code == 400
    assert "accountId" in response.json()["fields"][0]["message"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"[" * 10_000 + b"]" * 10_000])
def test_a_body_that_is_no_json_object_cannot_be_parsed(live_server, content):
    credentials = Credentials(live_server.root.access_key_id, live_server.root.secret_access_key)

    def sign_what_is_sent(request):
        request.data = content
        SigV4Auth(credentials, "inspector2", live_server.region).add_auth(request)

    response = live_server.request("POST", "/status/batch/get", content=content, sign=sign_what_is_sent)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert response.json()["reason"] == "CANNOT_PARSE"


def test_an_operation_vigil_does_not_serve_answers_inspectors_error_not_a_404_page(live_server):
    with pytest.raises(ClientError) as excinfo:
        live_server.client().list_cis_scan_configurations()
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert "ListCisScanConfigurations" in excinfo.value.response["Error"]["Message"]


def test_a_uri_label_holding_an_encoded_slash_still_finds_its_operation(live_server):
    arn = f"arn:aws:inspector2:local:{live_server.root.account_id}:owner/{live_server.root.account_id}/filter/f1"
    with pytest.raises(ClientError) as excinfo:
        live_server.client().list_tags_for_resource(resourceArn=arn)
    assert "ListTagsForResource" in excinfo.value.response["Error"]["Message"]


def test_a_path_of_no_operation_is_an_unknown_operation_in_json(live_server):
    response = live_server.request("POST", "/no/such/operation", json_body={})
    assert response.status_code == 404
    assert response.headers["x-amzn-errortype"] == "UnknownOperationException"
    assert "/no/such/operation" in response.json()["message"]
    assert live_server.request("GET", "/enable").headers["x-amzn-errortype"] == "UnknownOperationException"


def test_a_body_over_the_limit_is_refused_before_it_is_read(live_server):
    huge = json.dumps({"accountIds": ["1" * 12] * 1_500_000}).encode()
    assert len(huge) > 16 << 20
    response = live_server.request("POST", "/status/batch/get", json_body={}, content=huge)
    assert response.status_code == 413
    assert response.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
