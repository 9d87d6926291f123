"""The organization (DESIGN §2): its management account names a delegated administrator, who associates
and disassociates members, sees and configures them, and sets deep inspection paths for all of them.

The server holds one organization; its first account (made by `vigil server init`) is the management
account. A member sees only itself; an account that is not associated is its own administrator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import Clock, system_clock
from vigil.fleet.accounts import (
    Conflict,
    Ec2Status,
    InvalidValue,
    NoSuchAccount,
    NotAllowed,
    QuotaExceeded,
    Relationship,
    administrator_of,
    custom_paths,
)
from vigil.store import accounts as store
from vigil.store.engine import transaction

MAX_MEMBERS = 10_000  # Inspector's quota of members per delegated administrator


@dataclass(frozen=True, slots=True)
class Member:
    """An account as its (possible) administrator sees it: Inspector's `Member`."""

    account_id: str
    relationship: Relationship
    delegated_admin_account_id: str | None
    updated_at: dt.datetime


class OrganizationsService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self._sessions = sessions
        self._clock = clock

    # the delegated administrator (the management account's calls)

    def enable_delegated_admin(self, caller_id: str, admin_id: str) -> str:
        """Name the delegated administrator; its EC2 scanning is enabled with it, as Inspector does."""
        with transaction(self._sessions) as session:
            organization = self._managed_by(session, caller_id)
            row = store.account(session, admin_id)
            if row is None:
                raise NoSuchAccount(f"no account {admin_id} on this server")
            current = organization.delegated_admin_id
            if current is not None and current != admin_id:
                raise Conflict(f"{current} is the delegated administrator already", resource_id=current)
            if current is None:
                now = self._clock()
                organization.delegated_admin_id, organization.delegated_admin_at = admin_id, now
                if row.ec2_status != Ec2Status.ENABLED:
                    row.ec2_status, row.ec2_status_at = Ec2Status.ENABLED, now
            return admin_id

    def disable_delegated_admin(self, caller_id: str, admin_id: str) -> str:
        """Remove the delegated administrator: its members are disassociated, its organization paths go."""
        with transaction(self._sessions) as session:
            organization = self._managed_by(session, caller_id)
            if organization.delegated_admin_id != admin_id:
                raise NoSuchAccount(f"{admin_id} is not the delegated administrator")
            now = self._clock()
            for member in store.members_of(session, admin_id):
                member.relationship, member.relationship_at = Relationship.REMOVED, now
            organization.delegated_admin_id = organization.delegated_admin_at = None
            organization.package_paths = []
            return admin_id

    def delegated_admin(self, caller_id: str) -> str | None:
        """The delegated administrator, for the management account and the administrator itself."""
        with transaction(self._sessions) as session:
            organization = _organization(session)
            if caller_id not in (organization.management_account_id, organization.delegated_admin_id):
                raise NotAllowed("only the management account and the delegated administrator see who it is")
            return organization.delegated_admin_id

    # members (the delegated administrator's calls)

    def associate(self, caller_id: str, account_id: str) -> str:
        with transaction(self._sessions) as session:
            self._administering(session, caller_id)
            if account_id == caller_id:
                raise InvalidValue("accountId", "the delegated administrator cannot be its own member")
            row = store.account(session, account_id)
            if row is None:
                raise InvalidValue("accountId", f"no account {account_id} in this organization")
            if administrator_of(session, row) == caller_id:
                return account_id
            if store.member_count(session, caller_id) >= MAX_MEMBERS:
                raise QuotaExceeded(
                    f"at most {MAX_MEMBERS} members per administrator", resource_id=account_id
                )
            row.admin_account_id, row.relationship = caller_id, Relationship.ENABLED
            row.relationship_at, row.scan_mode_inherited = self._clock(), True
            return account_id

    def disassociate(self, caller_id: str, account_id: str) -> str:
        with transaction(self._sessions) as session:
            self._administering(session, caller_id)
            row = store.account(session, account_id)
            if row is None or administrator_of(session, row) != caller_id:
                raise InvalidValue("accountId", f"{account_id} is not a member of this administrator")
            row.relationship, row.relationship_at = Relationship.REMOVED, self._clock()
            return account_id

    def member(self, caller_id: str, account_id: str) -> Member:
        """An account's membership: any account's for the administrator, one's own for everyone."""
        with transaction(self._sessions) as session:
            organization = _organization(session)
            if account_id != caller_id and organization.delegated_admin_id != caller_id:
                raise NotAllowed(f"account {account_id} is neither the caller nor one of its members")
            row = store.account(session, account_id)
            if row is None:
                raise NoSuchAccount(f"no account {account_id} in this organization")
            return _member(session, row, organization.delegated_admin_id)

    def members(self, caller_id: str, *, only_associated: bool = True) -> list[Member]:
        """The administrator's members (or every other account of the organization); a member sees itself."""
        with transaction(self._sessions) as session:
            organization = _organization(session)
            admin = organization.delegated_admin_id
            if admin != caller_id:
                row = store.account(session, caller_id)
                own = _member(session, row, admin) if row is not None else None
                return [own] if own is not None and own.relationship is Relationship.ENABLED else []
            rows = store.members_of(session, caller_id) if only_associated else store.accounts(session)
            return [_member(session, row, admin) for row in rows if row.account_id != caller_id]

    def update_org_package_paths(self, caller_id: str, paths: Sequence[str]) -> None:
        """Deep inspection paths for the whole organization: the delegated administrator's to set."""
        checked = custom_paths("orgPackagePaths", paths)
        with transaction(self._sessions) as session:
            self._administering(session, caller_id)
            _organization(session).package_paths = list(checked)

    # shared

    @staticmethod
    def _managed_by(session: Session, caller_id: str) -> store.OrganizationRow:
        organization = _organization(session)
        if organization.management_account_id != caller_id:
            raise NotAllowed("only the organization's management account names its delegated administrator")
        return organization

    @staticmethod
    def _administering(session: Session, caller_id: str) -> None:
        if _organization(session).delegated_admin_id != caller_id:
            raise NotAllowed("only the organization's delegated administrator manages members")


def _organization(session: Session) -> store.OrganizationRow:
    organization = store.organization(session)
    if organization is None:
        raise NoSuchAccount("this server has no account yet (run `vigil server init`)")
    return organization


def _member(session: Session, row: store.AccountRow, admin: str | None) -> Member:
    """The account's membership with the current administrator (CREATED when it never had one)."""
    if admin is not None and row.admin_account_id == admin:
        return Member(row.account_id, Relationship(row.relationship), admin, row.relationship_at)
    return Member(row.account_id, Relationship.CREATED, None, row.created_at)
