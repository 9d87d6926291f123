"""A member's keys against every route of the accounts group (and the Vigil API's feeds update), aimed at
other accounts' data: each is refused, and nothing of the others changes."""

from __future__ import annotations

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from tests.api.organization import build_organization

from vigil.api.inspector_ops.accounts import operations


@pytest.fixture(scope="module")
def org(live_server):
    built = build_organization(live_server)
    live_server.client(built.b).update_ec2_deep_inspection_configuration(packagePaths=["/opt/b-only"])
    return built


def _refusals(org):
    """(operation, kwargs, the refusal expected) for a call by member A on someone else's data."""
    a, b, admin = org.a.account_id, org.b.account_id, org.admin.account_id
    return [
        ("GetConfiguration", {"accountId": b}, "AccessDeniedException"),
        (
            "UpdateConfiguration",
            {"accountId": b, "ec2Configuration": {"scanMode": "EC2_SSM_AGENT_BASED"}},
            "AccessDeniedException",
        ),
        (
            "UpdateConfiguration",
            {"ec2Configuration": {"scanMode": "EC2_SSM_AGENT_BASED"}},
            "AccessDeniedException",
        ),
        ("UpdateEc2DeepInspectionConfiguration", {"activateDeepInspection": False}, "AccessDeniedException"),
        (
            "UpdateOrgEc2DeepInspectionConfiguration",
            {"orgPackagePaths": ["/srv/mine"]},
            "AccessDeniedException",
        ),
        ("EnableDelegatedAdminAccount", {"delegatedAdminAccountId": a}, "AccessDeniedException"),
        ("DisableDelegatedAdminAccount", {"delegatedAdminAccountId": admin}, "AccessDeniedException"),
        ("GetDelegatedAdminAccount", {}, "AccessDeniedException"),
        ("ListDelegatedAdminAccounts", {}, "AccessDeniedException"),
        ("AssociateMember", {"accountId": org.outsider.account_id}, "AccessDeniedException"),
        ("DisassociateMember", {"accountId": b}, "AccessDeniedException"),
        ("GetMember", {"accountId": b}, "AccessDeniedException"),
    ]


def test_every_refused_call_is_refused_with_access_denied(live_server, org):
    client = live_server.client(org.a)
    for operation, kwargs, code in _refusals(org):
        with pytest.raises(ClientError) as excinfo:
            getattr(client, xform_name(operation))(**kwargs)
        assert excinfo.value.response["Error"]["Code"] == code, operation


def test_batch_calls_on_other_accounts_fail_for_each_and_change_nothing(live_server, org):
    client = live_server.client(org.a)
    others = [org.b.account_id, org.admin.account_id, org.outsider.account_id, live_server.root.account_id]
    for call in (client.enable, client.disable):
        outcome = call(accountIds=others, resourceTypes=["EC2"])
        assert outcome["accounts"] == []
        assert {(f["accountId"], f["errorCode"]) for f in outcome["failedAccounts"]} == {
            (other, "ACCESS_DENIED") for other in others
        }
    status = client.batch_get_account_status(accountIds=others)
    assert status["accounts"] == [] and len(status["failedAccounts"]) == len(others)
    admin_view = live_server.client(org.admin).batch_get_account_status(accountIds=[org.b.account_id])
    assert admin_view["accounts"][0]["state"]["status"] == "DISABLED"
    assert live_server.client().batch_get_account_status()["accounts"][0]["state"]["status"] == "DISABLED"


def test_reads_open_to_a_member_show_only_its_own_data(live_server, org):
    client = live_server.client(org.a)
    assert [m["accountId"] for m in client.list_members(onlyAssociated=False)["members"]] == [
        org.a.account_id
    ]
    assert client.get_ec2_deep_inspection_configuration()["packagePaths"] == []
    assert client.get_member(accountId=org.a.account_id)["member"]["accountId"] == org.a.account_id


def test_after_all_that_the_organization_is_as_it_was(live_server, org):
    admin = live_server.client(org.admin)
    members = {m["accountId"] for m in admin.list_members()["members"]}
    assert members == {org.a.account_id, org.b.account_id}
    assert (
        live_server.client().get_delegated_admin_account()["delegatedAdmin"]["accountId"]
        == org.admin.account_id
    )
    assert (
        admin.get_configuration(accountId=org.b.account_id)["ec2Configuration"]["scanModeState"]["scanMode"]
        == "EC2_HYBRID"
    )
    assert live_server.client(org.b).get_ec2_deep_inspection_configuration()["packagePaths"] == [
        "/opt/b-only"
    ]


def test_only_the_management_account_makes_the_server_fetch_feeds(live_server, org):
    response = live_server.request("POST", "/vigil/v1/feeds/update", json_body={}, keys=org.a)
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"


def test_every_operation_of_the_accounts_group_is_tried(org):
    tried = {operation for operation, _, _ in _refusals(org)}
    tried |= {
        "Enable",
        "Disable",
        "BatchGetAccountStatus",
        "ListMembers",
        "GetEc2DeepInspectionConfiguration",
    }
    assert tried == set(operations(None, None))  # type: ignore[arg-type]
