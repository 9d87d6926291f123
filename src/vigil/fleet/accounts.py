"""Accounts (DESIGN §2, §3.1, §3.3): ids and access keys, EC2 enablement, scan mode, deep inspection.

Every call that acts for someone takes the calling account's id and decides itself what that account may
see and change (itself; its members when it is the delegated administrator), inside the unit of work that
reads the organization, so that a membership changing at the same time cannot be raced.
`AccountsService` is also the `AccountsDirectory` the scanning side reads.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import Clock, system_clock
from vigil.store import accounts as store
from vigil.store.engine import transaction


class Ec2Status(enum.StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class ScanMode(enum.StrEnum):
    HYBRID = "EC2_HYBRID"
    AGENT_BASED = "EC2_SSM_AGENT_BASED"


class DeepInspectionStatus(enum.StrEnum):
    ACTIVATED = "ACTIVATED"
    DEACTIVATED = "DEACTIVATED"


class Relationship(enum.StrEnum):
    """An account's membership, as Inspector's `RelationshipStatus` names it."""

    CREATED = "CREATED"  # in the organization, never associated with the current administrator
    ENABLED = store.ASSOCIATED  # associated: its administrator sees and configures it
    REMOVED = "REMOVED"  # disassociated


SUPPORTED_RESOURCE_TYPES = ("EC2",)
MAX_CUSTOM_PATHS = 5
MAX_PATH_LENGTH = 256
MAX_NAME_LENGTH = 256
ACCESS_KEY_PREFIX = "VIGL"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class AccountsError(Exception):
    """A request the accounts' rules refuse; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(AccountsError):
    """The calling account may not do this (to this account)."""


class NoSuchAccount(AccountsError):
    """The named account does not exist on this server."""


class Conflict(AccountsError):
    def __init__(self, message: str, *, resource_id: str) -> None:
        super().__init__(message)
        self.resource_id = resource_id


class InvalidValue(AccountsError):
    """A member of the request that is wrong, named as the request names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class QuotaExceeded(AccountsError):
    def __init__(self, message: str, *, resource_id: str) -> None:
        super().__init__(message)
        self.resource_id = resource_id


class Sealer(Protocol):
    """Encrypts secrets at rest (`vigil.server.keyfile.KeyFile`); `context` binds a secret to its key id."""

    def seal(self, secret: str, context: str) -> str: ...

    def unseal(self, sealed: str, context: str) -> str: ...


@dataclass(frozen=True, slots=True)
class NewAccount:
    account_id: str
    name: str
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True, slots=True)
class SigningKey:
    """What verifying a request signed with one access key needs: its secret and whom it speaks for."""

    account_id: str
    secret: str
    administered: frozenset[str]  # the members it sees and configures, as the delegated administrator


@dataclass(frozen=True, slots=True)
class AccountStatus:
    account_id: str
    ec2: Ec2Status


@dataclass(frozen=True, slots=True)
class FailedAccount:
    account_id: str
    error_code: str  # Inspector's `ErrorCode`
    message: str
    status: AccountStatus | None = None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    accounts: tuple[AccountStatus, ...]
    failed: tuple[FailedAccount, ...]


@dataclass(frozen=True, slots=True)
class ScanModeState:
    scan_mode: ScanMode
    status: str = "SUCCESS"  # nothing is left pending: the scheduler reads the mode on its next round


@dataclass(frozen=True, slots=True)
class DeepInspection:
    package_paths: tuple[str, ...]
    org_package_paths: tuple[str, ...]
    status: DeepInspectionStatus


def custom_paths(field: str, paths: Sequence[str]) -> tuple[str, ...]:
    """Deep inspection's custom paths, checked: at most 5, each absolute, local and at most 256 characters."""
    if len(paths) > MAX_CUSTOM_PATHS:
        raise InvalidValue(field, f"at most {MAX_CUSTOM_PATHS} custom paths, not {len(paths)}")
    kept: list[str] = []
    for path in paths:
        problem = _path_problem(path)
        if problem:
            raise InvalidValue(field, f"{path!r}: {problem}")
        normal = path.rstrip("/") or "/"
        if normal not in kept:
            kept.append(normal)
    return tuple(kept)


def _path_problem(path: str) -> str | None:
    if len(path) > MAX_PATH_LENGTH:
        return f"longer than {MAX_PATH_LENGTH} characters"
    if not path.startswith("/"):
        return "not an absolute path"
    if path.startswith("//"):
        return "a network path: deep inspection reads local paths only"
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        return "holds control characters"
    if any(part in (".", "..") for part in path.split("/")):
        return "holds . or .. components"
    if path.rstrip("/") == "":
        return "the root: agentless deep inspection reads everything already, agents only chosen paths"
    return None


def administrator_of(session: Session, row: store.AccountRow) -> str | None:
    """The delegated administrator the account is associated with now, if any."""
    organization = store.organization(session)
    if organization is None or organization.delegated_admin_id is None:
        return None
    associated = row.relationship == Relationship.ENABLED
    return (
        organization.delegated_admin_id
        if associated and row.admin_account_id == organization.delegated_admin_id
        else None
    )


def filter_owners(session: Session, account_id: str) -> set[str]:
    """Whose SUPPRESS filters apply to this account's findings: its own, and its administrator's."""
    row = store.account(session, account_id)
    admin = administrator_of(session, row) if row is not None else None
    return {account_id} | ({admin} if admin else set())


def administered(session: Session, account_id: str) -> frozenset[str]:
    """The members this account administers: none unless it is the delegated administrator."""
    organization = store.organization(session)
    if organization is None or organization.delegated_admin_id != account_id:
        return frozenset()
    return frozenset(row.account_id for row in store.members_of(session, account_id))


def visible(session: Session, caller_id: str) -> frozenset[str]:
    return administered(session, caller_id) | {caller_id}


def _requested(
    session: Session, caller_id: str, account_ids: Sequence[str]
) -> Iterator[tuple[str, store.AccountRow | None]]:
    """Each account a batch call names (the caller's own when none), with its row if the caller may act
    on it, else None."""
    allowed = visible(session, caller_id)
    for account_id in dict.fromkeys(account_ids or [caller_id]):
        yield account_id, store.account(session, account_id) if account_id in allowed else None


class AccountsService:
    """Accounts and their scanning configuration, in the fleet store."""

    def __init__(self, sessions: sessionmaker[Session], sealer: Sealer, clock: Clock = system_clock) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._clock = clock

    # accounts and keys

    def create_account(self, name: str) -> NewAccount:
        """A new account with one access key; the server's first account manages its organization."""
        name = name.strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            raise InvalidValue("name", f"an account name has 1 to {MAX_NAME_LENGTH} characters")
        now = self._clock()
        with transaction(self._sessions) as session:
            account_id = _new_account_id(session)
            session.add(
                store.AccountRow(
                    account_id=account_id,
                    name=name,
                    created_at=now,
                    ec2_status=Ec2Status.DISABLED,
                    ec2_status_at=now,
                    scan_mode=ScanMode.HYBRID,
                    scan_mode_inherited=True,
                    deep_inspection=DeepInspectionStatus.ACTIVATED,
                    package_paths=[],
                    relationship=Relationship.CREATED,
                    relationship_at=now,
                )
            )
            session.flush()
            if store.organization(session) is None:
                session.add(
                    store.OrganizationRow(
                        id=store.ORGANIZATION, management_account_id=account_id, package_paths=[]
                    )
                )
            access_key_id, secret = _new_key(session)
            sealed = self._sealer.seal(secret, access_key_id)
            session.add(
                store.AccessKeyRow(
                    access_key_id=access_key_id, account_id=account_id, sealed_secret=sealed, created_at=now
                )
            )
        return NewAccount(account_id, name, access_key_id, secret)

    def signing_key(self, access_key_id: str) -> SigningKey | None:
        """The key's secret and the accounts it speaks for, or None for a key this server never issued."""
        with transaction(self._sessions) as session:
            row = store.access_key(session, access_key_id)
            if row is None:
                return None
            secret = self._sealer.unseal(row.sealed_secret, row.access_key_id)
            return SigningKey(row.account_id, secret, administered(session, row.account_id))

    def management_account_id(self) -> str | None:
        with transaction(self._sessions) as session:
            organization = store.organization(session)
            return organization.management_account_id if organization else None

    def account_count(self) -> int:
        with transaction(self._sessions) as session:
            return len(store.accounts(session))

    # enablement (Enable, Disable, BatchGetAccountStatus)

    def enable(
        self, caller_id: str, account_ids: Sequence[str], resource_types: Sequence[str]
    ) -> BatchOutcome:
        return self._set_ec2(caller_id, account_ids, resource_types, Ec2Status.ENABLED)

    def disable(
        self, caller_id: str, account_ids: Sequence[str], resource_types: Sequence[str]
    ) -> BatchOutcome:
        return self._set_ec2(
            caller_id, account_ids, resource_types or SUPPORTED_RESOURCE_TYPES, Ec2Status.DISABLED
        )

    def statuses(self, caller_id: str, account_ids: Sequence[str]) -> BatchOutcome:
        with transaction(self._sessions) as session:
            done, failed = [], []
            for account_id, row in _requested(session, caller_id, account_ids):
                if row is None:
                    failed.append(_denied(account_id))
                else:
                    done.append(AccountStatus(account_id, Ec2Status(row.ec2_status)))
            return BatchOutcome(tuple(done), tuple(failed))

    def _set_ec2(
        self, caller_id: str, account_ids: Sequence[str], resource_types: Sequence[str], status: Ec2Status
    ) -> BatchOutcome:
        if unsupported := sorted(set(resource_types) - set(SUPPORTED_RESOURCE_TYPES)):
            raise InvalidValue(
                "resourceTypes", f"{', '.join(unsupported)}: not supported (Vigil scans EC2 instances only)"
            )
        now = self._clock()
        with transaction(self._sessions) as session:
            done, failed = [], []
            for account_id, row in _requested(session, caller_id, account_ids):
                if row is None:
                    failed.append(_denied(account_id))
                    continue
                if status is Ec2Status.DISABLED and store.member_count(session, account_id):
                    failed.append(
                        FailedAccount(
                            account_id,
                            "DISASSOCIATE_ALL_MEMBERS",
                            "the delegated administrator keeps scanning while it has members: "
                            "disassociate them first",
                            AccountStatus(account_id, Ec2Status(row.ec2_status)),
                        )
                    )
                    continue
                if row.ec2_status != status:
                    row.ec2_status, row.ec2_status_at = status, now
                done.append(AccountStatus(account_id, status))
            return BatchOutcome(tuple(done), tuple(failed))

    # scan mode (GetConfiguration, UpdateConfiguration)

    def configuration(self, caller_id: str, account_id: str | None = None) -> ScanModeState:
        with transaction(self._sessions) as session:
            row = self._visible_account(session, caller_id, account_id or caller_id)
            return ScanModeState(_effective_mode(session, row))

    def update_configuration(
        self,
        caller_id: str,
        account_id: str | None = None,
        *,
        scan_mode: ScanMode | None = None,
        inherit: bool = False,
    ) -> None:
        """The caller's own scan mode, or (as the delegated administrator) one member's: its own mode, or
        `inherit` to follow the administrator's again."""
        if scan_mode is None and not inherit:
            raise InvalidValue("ec2Configuration", "nothing to update: give ec2Configuration.scanMode")
        if scan_mode is not None and inherit:
            raise InvalidValue(
                "updateConfigurationInheritance", "either a scan mode or inheritance, not both"
            )
        target = account_id or caller_id
        with transaction(self._sessions) as session:
            row = self._visible_account(session, caller_id, target)
            if target == caller_id:
                admin = administrator_of(session, row)
                if admin is not None:
                    raise NotAllowed(f"the delegated administrator {admin} sets this member's scan mode")
                if inherit:
                    raise InvalidValue("updateConfigurationInheritance", "only a member inherits a scan mode")
                row.scan_mode = str(scan_mode)
            elif inherit:
                row.scan_mode_inherited = True
            else:
                row.scan_mode, row.scan_mode_inherited = str(scan_mode), False

    # deep inspection (Get/UpdateEc2DeepInspectionConfiguration)

    def deep_inspection(self, caller_id: str) -> DeepInspection:
        with transaction(self._sessions) as session:
            return _deep_inspection(session, self._account(session, caller_id))

    def update_deep_inspection(
        self, caller_id: str, *, activate: bool | None = None, package_paths: Sequence[str] | None = None
    ) -> DeepInspection:
        paths = custom_paths("packagePaths", package_paths) if package_paths is not None else None
        with transaction(self._sessions) as session:
            row = self._account(session, caller_id)
            if activate is not None:
                admin = administrator_of(session, row)
                if admin is not None:
                    raise NotAllowed(
                        f"the delegated administrator {admin} activates deep inspection for its members"
                    )
                row.deep_inspection = (
                    DeepInspectionStatus.ACTIVATED if activate else DeepInspectionStatus.DEACTIVATED
                )
            if paths is not None:
                row.package_paths = list(paths)
            return _deep_inspection(session, row)

    # AccountsDirectory (vigil.fleet.ports)

    def enabled_accounts(self) -> list[str]:
        with transaction(self._sessions) as session:
            return store.enabled_account_ids(session)

    def scan_mode(self, account_id: str) -> str:
        with transaction(self._sessions) as session:
            return _effective_mode(session, self._account(session, account_id)).value

    def deep_inspection_active(self, account_id: str) -> bool:
        with transaction(self._sessions) as session:
            row = self._account(session, account_id)
            return _deep_inspection(session, row).status is DeepInspectionStatus.ACTIVATED

    def deep_inspection_paths(self, account_id: str) -> tuple[str, ...]:
        with transaction(self._sessions) as session:
            config = _deep_inspection(session, self._account(session, account_id))
            return config.package_paths + config.org_package_paths

    # shared

    @staticmethod
    def _account(session: Session, account_id: str) -> store.AccountRow:
        row = store.account(session, account_id)
        if row is None:
            raise NoSuchAccount(f"no account {account_id} on this server")
        return row

    def _visible_account(self, session: Session, caller_id: str, account_id: str) -> store.AccountRow:
        if account_id not in visible(session, caller_id):
            raise NotAllowed(f"account {account_id} is neither the caller nor one of its members")
        return self._account(session, account_id)


def _effective_mode(session: Session, row: store.AccountRow) -> ScanMode:
    admin = administrator_of(session, row)
    if admin is not None and row.scan_mode_inherited:
        admin_row = store.account(session, admin)
        if admin_row is not None:
            return ScanMode(admin_row.scan_mode)
    return ScanMode(row.scan_mode)


def _deep_inspection(session: Session, row: store.AccountRow) -> DeepInspection:
    organization = store.organization(session)
    in_organization = organization is not None and (
        organization.delegated_admin_id == row.account_id or administrator_of(session, row) is not None
    )
    org_paths = tuple(organization.package_paths) if organization is not None and in_organization else ()
    return DeepInspection(tuple(row.package_paths), org_paths, DeepInspectionStatus(row.deep_inspection))


def _denied(account_id: str) -> FailedAccount:
    return FailedAccount(
        account_id, "ACCESS_DENIED", f"account {account_id} is neither the caller nor one of its members"
    )


def _new_account_id(session: Session) -> str:
    while True:
        candidate = f"{secrets.randbelow(10**store.ACCOUNT_ID_LENGTH):0{store.ACCOUNT_ID_LENGTH}d}"
        if store.account(session, candidate) is None:
            return candidate


def _new_key(session: Session) -> tuple[str, str]:
    while True:
        access_key_id = ACCESS_KEY_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(16))
        if store.access_key(session, access_key_id) is None:
            return access_key_id, secrets.token_urlsafe(30)
