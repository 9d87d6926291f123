"""One account's own calls through boto3 and the AWS CLI: enablement, scan mode, deep inspection."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> dict:
    return excinfo.value.response


def test_an_account_is_enabled_and_disabled_with_the_aws_cli_and_boto3_sees_it(live_server):
    keys = live_server.new_account("cli")
    client = live_server.client(keys)
    assert client.batch_get_account_status()["accounts"][0]["state"]["status"] == "DISABLED"
    enabled = live_server.aws("inspector2", "enable", "--resource-types", "EC2", keys=keys)
    assert enabled.returncode == 0, enabled.stderr
    account = enabled.json()["accounts"][0]
    assert account["accountId"] == keys.account_id
    assert account["status"] == "ENABLED" and account["resourceStatus"]["ec2"] == "ENABLED"
    assert account["resourceStatus"]["ecr"] == "DISABLED"
    state = client.batch_get_account_status(accountIds=[keys.account_id])["accounts"][0]
    assert state["resourceState"]["ec2"]["status"] == "ENABLED"
    disabled = client.disable(resourceTypes=["EC2"])
    assert disabled["accounts"][0]["resourceStatus"]["ec2"] == "DISABLED" and disabled["failedAccounts"] == []
    assert client.batch_get_account_status()["accounts"][0]["state"]["status"] == "DISABLED"


def test_other_resource_types_are_answered_as_not_supported(live_server):
    client = live_server.client(live_server.new_account())
    with pytest.raises(ClientError) as excinfo:
        client.enable(resourceTypes=["EC2", "ECR"])
    error = _error(excinfo)
    assert error["Error"]["Code"] == "ValidationException"
    assert error["reason"] == "FIELD_VALIDATION_FAILED"
    assert error["fields"][0]["name"] == "resourceTypes" and "ECR" in error["fields"][0]["message"]
    assert client.batch_get_account_status()["accounts"][0]["state"]["status"] == "DISABLED"


def test_a_new_account_scans_in_hybrid_mode_and_changes_it(live_server):
    client = live_server.client(live_server.new_account())
    client.enable(resourceTypes=["EC2"])
    state = client.get_configuration()["ec2Configuration"]["scanModeState"]
    assert state == {"scanMode": "EC2_HYBRID", "scanModeStatus": "SUCCESS"}
    client.update_configuration(ec2Configuration={"scanMode": "EC2_SSM_AGENT_BASED"})
    assert (
        client.get_configuration()["ec2Configuration"]["scanModeState"]["scanMode"] == "EC2_SSM_AGENT_BASED"
    )


def test_a_scan_mode_outside_the_models_enum_names_its_field(live_server):
    client = live_server.client(live_server.new_account())
    with pytest.raises(ClientError) as excinfo:
        client.update_configuration(ec2Configuration={"scanMode": "EC2_AGENTLESS_ONLY"})
    error = _error(excinfo)
    assert error["Error"]["Code"] == "ValidationException"
    assert [f["name"] for f in error["fields"]] == ["ec2Configuration.scanMode"]
    assert "EC2_HYBRID" in error["fields"][0]["message"]


def test_ecr_configuration_is_not_supported(live_server):
    client = live_server.client(live_server.new_account())
    with pytest.raises(ClientError) as excinfo:
        client.update_configuration(ecrConfiguration={"rescanDuration": "DAYS_30"})
    assert _error(excinfo)["fields"][0]["name"] == "ecrConfiguration"


def test_deep_inspection_is_on_by_default_and_takes_custom_paths(live_server):
    client = live_server.client(live_server.new_account())
    assert client.get_ec2_deep_inspection_configuration()["status"] == "ACTIVATED"
    updated = client.update_ec2_deep_inspection_configuration(
        activateDeepInspection=False, packagePaths=["/opt/app", "/srv/www/"]
    )
    assert updated["status"] == "DEACTIVATED" and updated["packagePaths"] == ["/opt/app", "/srv/www"]
    fetched = client.get_ec2_deep_inspection_configuration()
    assert fetched["packagePaths"] == ["/opt/app", "/srv/www"] and fetched["orgPackagePaths"] == []


@pytest.mark.parametrize(
    ("paths", "field", "says"),
    [
        ([f"/opt/p{i}" for i in range(6)], "packagePaths", "max length: 5"),
        (["opt/relative"], "packagePaths", "not an absolute path"),
        (["/opt/" + "x" * 300], "packagePaths", "longer than 256"),
        (["/opt/../etc"], "packagePaths", ". or .."),
    ],
)
def test_custom_paths_are_validated_and_nothing_is_kept_when_one_is_wrong(live_server, paths, field, says):
    client = live_server.client(live_server.new_account())
    client.update_ec2_deep_inspection_configuration(packagePaths=["/opt/kept"])
    with pytest.raises(ClientError) as excinfo:
        client.update_ec2_deep_inspection_configuration(packagePaths=paths)
    error = _error(excinfo)
    assert error["Error"]["Code"] == "ValidationException"
    assert error["fields"][0]["name"] == field and says in error["fields"][0]["message"]
    assert client.get_ec2_deep_inspection_configuration()["packagePaths"] == ["/opt/kept"]


def test_an_account_outside_any_organization_administers_nothing(live_server):
    keys = live_server.new_account()
    client = live_server.client(keys)
    assert client.list_members()["members"] == []
    member = client.get_member(accountId=keys.account_id)["member"]
    assert member["relationshipStatus"] == "CREATED" and "delegatedAdminAccountId" not in member
    for call, kwargs in [
        (client.associate_member, {"accountId": live_server.root.account_id}),
        (client.update_org_ec2_deep_inspection_configuration, {"orgPackagePaths": ["/srv"]}),
        (client.get_delegated_admin_account, {}),
    ]:
        with pytest.raises(ClientError) as excinfo:
            call(**kwargs)
        assert _error(excinfo)["Error"]["Code"] == "AccessDeniedException", call


def test_the_aws_cli_shows_a_refusal_with_inspectors_code(live_server):
    done = live_server.aws(
        "inspector2",
        "get-member",
        "--account-id",
        live_server.root.account_id,
        keys=live_server.new_account(),
    )
    assert done.returncode != 0
    assert "AccessDeniedException" in done.stderr and "GetMember" in done.stderr
