"""Inspector's account, configuration and organization operations: each reads the request's members, calls
the accounts or organizations service for the caller, and shapes the answer; the services' refusals
become Inspector's errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from vigil.api.context import Caller, Handler, Request, Response
from vigil.api.errors import (
    AccessDeniedException,
    ConflictException,
    InspectorError,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from vigil.api.pages import page
from vigil.fleet.accounts import (
    AccountsError,
    AccountsService,
    AccountStatus,
    BatchOutcome,
    Conflict,
    DeepInspection,
    InvalidValue,
    NoSuchAccount,
    NotAllowed,
    QuotaExceeded,
    ScanMode,
)
from vigil.fleet.organizations import Member, OrganizationsService

# resource types of Inspector's status shapes that Vigil does not scan: always DISABLED
NOT_SCANNED = ("ecr", "lambda", "lambdaCode", "codeRepository", "ami")
DEFAULT_MEMBERS_PAGE = 50
DEFAULT_ADMINS_PAGE = 5


def operations(
    accounts: AccountsService,
    organizations: OrganizationsService,
    on_enablement: Callable[[], object] = lambda: None,
) -> dict[str, Handler]:
    """The handlers of this resource group, by operation name. `on_enablement` runs after an Enable or a
    Disable (Inspector's associations are created and deleted with EC2 scanning)."""

    def enable(caller: Caller, request: Request) -> Response:
        outcome = accounts.enable(caller.account_id, request.get("accountIds", []), request["resourceTypes"])
        on_enablement()
        return _batch(outcome, _account)

    def disable(caller: Caller, request: Request) -> Response:
        outcome = accounts.disable(
            caller.account_id, request.get("accountIds", []), request.get("resourceTypes", [])
        )
        on_enablement()
        return _batch(outcome, _account)

    def batch_get_account_status(caller: Caller, request: Request) -> Response:
        return _batch(accounts.statuses(caller.account_id, request.get("accountIds", [])), _account_state)

    def get_configuration(caller: Caller, request: Request) -> Response:
        state = accounts.configuration(caller.account_id, request.get("accountId"))
        mode = {"scanMode": state.scan_mode.value, "scanModeStatus": state.status}
        return {"ec2Configuration": {"scanModeState": mode}}

    def update_configuration(caller: Caller, request: Request) -> Response:
        for other in ("ecrConfiguration", "amiConfiguration"):
            if other in request:
                raise ValidationException.of_field(other, "not supported: Vigil scans EC2 instances only")
        ec2 = request.get("ec2Configuration", {})
        if ec2.get("activateVMScanner"):
            raise ValidationException.of_field(
                "ec2Configuration.activateVMScanner", "not supported: Vigil has no VM scanner"
            )
        inheritance = request.get("updateConfigurationInheritance", {})
        if "ecrConfiguration" in inheritance:
            raise ValidationException.of_field(
                "updateConfigurationInheritance.ecrConfiguration", "not supported: EC2 only"
            )
        accounts.update_configuration(
            caller.account_id,
            request.get("accountId"),
            scan_mode=ScanMode(ec2["scanMode"]) if "scanMode" in ec2 else None,
            inherit=inheritance.get("ec2Configuration") == "INHERIT_FROM_ADMIN",
        )
        return {}

    def get_deep_inspection(caller: Caller, request: Request) -> Response:
        return _deep_inspection(accounts.deep_inspection(caller.account_id))

    def update_deep_inspection(caller: Caller, request: Request) -> Response:
        config = accounts.update_deep_inspection(
            caller.account_id,
            activate=request.get("activateDeepInspection"),
            package_paths=request.get("packagePaths"),
        )
        return _deep_inspection(config)

    def update_org_deep_inspection(caller: Caller, request: Request) -> Response:
        organizations.update_org_package_paths(caller.account_id, request["orgPackagePaths"])
        return {}

    def enable_delegated_admin(caller: Caller, request: Request) -> Response:
        admin = organizations.enable_delegated_admin(caller.account_id, request["delegatedAdminAccountId"])
        return {"delegatedAdminAccountId": admin}

    def disable_delegated_admin(caller: Caller, request: Request) -> Response:
        admin = organizations.disable_delegated_admin(caller.account_id, request["delegatedAdminAccountId"])
        return {"delegatedAdminAccountId": admin}

    def get_delegated_admin(caller: Caller, request: Request) -> Response:
        admin = organizations.delegated_admin(caller.account_id)
        return {"delegatedAdmin": {"accountId": admin, "relationshipStatus": "ENABLED"}} if admin else {}

    def list_delegated_admins(caller: Caller, request: Request) -> Response:
        admin = organizations.delegated_admin(caller.account_id)
        chosen, token = page(
            [admin] if admin else [],
            str,
            max_results=request.get("maxResults"),
            next_token=request.get("nextToken"),
            default=DEFAULT_ADMINS_PAGE,
        )
        return {
            "delegatedAdminAccounts": [{"accountId": a, "status": "ENABLED"} for a in chosen],
            "nextToken": token,
        }

    def associate_member(caller: Caller, request: Request) -> Response:
        return {"accountId": organizations.associate(caller.account_id, request["accountId"])}

    def disassociate_member(caller: Caller, request: Request) -> Response:
        return {"accountId": organizations.disassociate(caller.account_id, request["accountId"])}

    def get_member(caller: Caller, request: Request) -> Response:
        return {"member": _member(organizations.member(caller.account_id, request["accountId"]))}

    def list_members(caller: Caller, request: Request) -> Response:
        members = organizations.members(
            caller.account_id, only_associated=request.get("onlyAssociated", True)
        )
        chosen, token = page(
            members,
            lambda m: m.account_id,
            max_results=request.get("maxResults"),
            next_token=request.get("nextToken"),
            default=DEFAULT_MEMBERS_PAGE,
        )
        return {"members": [_member(m) for m in chosen], "nextToken": token}

    handlers: dict[str, Handler] = {
        "Enable": enable,
        "Disable": disable,
        "BatchGetAccountStatus": batch_get_account_status,
        "GetConfiguration": get_configuration,
        "UpdateConfiguration": update_configuration,
        "GetEc2DeepInspectionConfiguration": get_deep_inspection,
        "UpdateEc2DeepInspectionConfiguration": update_deep_inspection,
        "UpdateOrgEc2DeepInspectionConfiguration": update_org_deep_inspection,
        "EnableDelegatedAdminAccount": enable_delegated_admin,
        "DisableDelegatedAdminAccount": disable_delegated_admin,
        "GetDelegatedAdminAccount": get_delegated_admin,
        "ListDelegatedAdminAccounts": list_delegated_admins,
        "AssociateMember": associate_member,
        "DisassociateMember": disassociate_member,
        "GetMember": get_member,
        "ListMembers": list_members,
    }
    return {name: _translated(handler) for name, handler in handlers.items()}


def _translated(handler: Handler) -> Handler:
    """The services' refusals as Inspector's errors."""

    @functools.wraps(handler)
    def translated(caller: Caller, request: Request) -> Response:
        try:
            return handler(caller, request)
        except AccountsError as error:
            raise _inspector_error(error) from error

    return translated


def _inspector_error(error: AccountsError) -> InspectorError:
    if isinstance(error, InvalidValue):
        return ValidationException.of_field(error.field, error.message)
    if isinstance(error, Conflict):
        return ConflictException(error.message, resource_id=error.resource_id, resource_type="ACCOUNT")
    if isinstance(error, QuotaExceeded):
        return ServiceQuotaExceededException(error.message, resource_id=error.resource_id)
    if isinstance(error, NoSuchAccount):
        return ResourceNotFoundException(error.message)
    if isinstance(error, NotAllowed):
        return AccessDeniedException(error.message)
    return InspectorError(error.message)


def _batch(outcome: BatchOutcome, shape: Callable[[AccountStatus], dict[str, Any]]) -> Response:
    failed = []
    for failure in outcome.failed:
        entry: dict[str, Any] = {
            "accountId": failure.account_id,
            "errorCode": failure.error_code,
            "errorMessage": failure.message,
        }
        if failure.status is not None:
            entry |= {k: v for k, v in _account(failure.status).items() if k != "accountId"}
        failed.append(entry)
    return {"accounts": [shape(status) for status in outcome.accounts], "failedAccounts": failed}


def _account(status: AccountStatus) -> dict[str, Any]:
    """Inspector's `Account`: the overall status is EC2's, the only resource type Vigil scans."""
    resources = {"ec2": status.ec2.value} | dict.fromkeys(NOT_SCANNED, "DISABLED")
    return {"accountId": status.account_id, "status": status.ec2.value, "resourceStatus": resources}


def _account_state(status: AccountStatus) -> dict[str, Any]:
    """Inspector's `AccountState` (no error: errorCode and errorMessage are left out)."""
    resources = {"ec2": {"status": status.ec2.value}} | {r: {"status": "DISABLED"} for r in NOT_SCANNED}
    return {"accountId": status.account_id, "state": {"status": status.ec2.value}, "resourceState": resources}


def _deep_inspection(config: DeepInspection) -> Response:
    return {
        "packagePaths": list(config.package_paths),
        "orgPackagePaths": list(config.org_package_paths),
        "status": config.status.value,
    }


def _member(member: Member) -> dict[str, Any]:
    return {
        "accountId": member.account_id,
        "relationshipStatus": member.relationship.value,
        "delegatedAdminAccountId": member.delegated_admin_account_id,
        "updatedAt": member.updated_at,
    }
