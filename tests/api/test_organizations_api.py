"""The organization through boto3 and the AWS CLI: the management account names the delegated administrator,
who associates members, sees and configures them; a member sees only itself."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError
from tests.api.organization import build_organization


@pytest.fixture(scope="module")
def org(live_server):
    return build_organization(live_server)


def test_the_management_account_sees_the_delegated_administrator(live_server, org):
    client = live_server.client()
    assert client.get_delegated_admin_account()["delegatedAdmin"] == {
        "accountId": org.admin.account_id,
        "relationshipStatus": "ENABLED",
    }
    listed = client.list_delegated_admin_accounts()["delegatedAdminAccounts"]
    assert listed == [{"accountId": org.admin.account_id, "status": "ENABLED"}]


def test_a_second_delegated_administrator_conflicts_with_the_first(live_server, org):
    with pytest.raises(ClientError) as excinfo:
        live_server.client().enable_delegated_admin_account(delegatedAdminAccountId=org.outsider.account_id)
    error = excinfo.value.response
    assert error["Error"]["Code"] == "ConflictException" and error["resourceId"] == org.admin.account_id


def test_the_administrator_lists_its_members_page_by_page(live_server, org):
    pages = (
        live_server.client(org.admin).get_paginator("list_members").paginate(PaginationConfig={"PageSize": 1})
    )
    listed = [[m["accountId"] for m in page["members"]] for page in pages]
    assert listed == [[a] for a in sorted([org.a.account_id, org.b.account_id])]
    everyone = live_server.client(org.admin).list_members(onlyAssociated=False)["members"]
    assert {m["accountId"]: m["relationshipStatus"] for m in everyone}[org.outsider.account_id] == "CREATED"


def test_the_aws_cli_lists_members_with_their_administrator(live_server, org):
    done = live_server.aws("inspector2", "list-members", keys=org.admin)
    assert done.returncode == 0, done.stderr
    members = done.json()["members"]
    assert {m["accountId"] for m in members} == {org.a.account_id, org.b.account_id}
    assert {m["delegatedAdminAccountId"] for m in members} == {org.admin.account_id}


def test_a_members_membership_has_a_timestamp_boto3_reads_as_a_time(live_server, org):
    member = live_server.client(org.a).get_member(accountId=org.a.account_id)["member"]
    assert member["relationshipStatus"] == "ENABLED"
    assert isinstance(member["updatedAt"], dt.datetime)
    assert abs(member["updatedAt"] - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10)


def test_a_member_lists_only_itself(live_server, org):
    members = live_server.client(org.a).list_members()["members"]
    assert [m["accountId"] for m in members] == [org.a.account_id]


def test_the_administrator_enables_its_members_and_reads_their_status(live_server, org):
    admin = live_server.client(org.admin)
    enabled = admin.enable(accountIds=[org.a.account_id, org.b.account_id], resourceTypes=["EC2"])
    assert {a["accountId"] for a in enabled["accounts"]} == {org.a.account_id, org.b.account_id}
    states = admin.batch_get_account_status(accountIds=[org.a.account_id, org.b.account_id])["accounts"]
    assert {s["state"]["status"] for s in states} == {"ENABLED"}


def test_a_members_scan_mode_is_its_administrators_unless_set_for_it(live_server, org):
    admin = live_server.client(org.admin)
    admin.update_configuration(ec2Configuration={"scanMode": "EC2_SSM_AGENT_BASED"})
    try:
        mode = live_server.client(org.a).get_configuration()["ec2Configuration"]["scanModeState"]["scanMode"]
        assert mode == "EC2_SSM_AGENT_BASED"
        admin.update_configuration(accountId=org.b.account_id, ec2Configuration={"scanMode": "EC2_HYBRID"})
        seen = admin.get_configuration(accountId=org.b.account_id)["ec2Configuration"]["scanModeState"]
        assert seen["scanMode"] == "EC2_HYBRID"
        admin.update_configuration(
            accountId=org.b.account_id,
            updateConfigurationInheritance={"ec2Configuration": "INHERIT_FROM_ADMIN"},
        )
        seen = admin.get_configuration(accountId=org.b.account_id)["ec2Configuration"]["scanModeState"]
        assert seen["scanMode"] == "EC2_SSM_AGENT_BASED"
    finally:
        admin.update_configuration(ec2Configuration={"scanMode": "EC2_HYBRID"})


def test_organization_paths_reach_every_member(live_server, org):
    live_server.client(org.admin).update_org_ec2_deep_inspection_configuration(
        orgPackagePaths=["/srv/shared"]
    )
    seen = live_server.client(org.b).get_ec2_deep_inspection_configuration()
    assert seen["orgPackagePaths"] == ["/srv/shared"]
    assert live_server.client(org.outsider).get_ec2_deep_inspection_configuration()["orgPackagePaths"] == []


def test_removing_the_delegated_administrator_disassociates_its_members(server_factory):
    server = server_factory()
    org = build_organization(server)
    server.client(org.admin).update_org_ec2_deep_inspection_configuration(orgPackagePaths=["/srv/shared"])
    removed = server.client().disable_delegated_admin_account(delegatedAdminAccountId=org.admin.account_id)
    assert removed["delegatedAdminAccountId"] == org.admin.account_id
    assert "delegatedAdmin" not in server.client().get_delegated_admin_account()
    assert server.client(org.a).list_members()["members"] == []
    assert server.client(org.a).get_ec2_deep_inspection_configuration()["orgPackagePaths"] == []
    with pytest.raises(ClientError) as excinfo:
        server.client(org.admin).get_member(accountId=org.a.account_id)
    assert excinfo.value.response["Error"]["Code"] == "AccessDeniedException"
