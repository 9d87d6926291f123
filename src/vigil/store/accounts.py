"""The accounts aggregate in the store: accounts, their access keys, and the server's one organization.

Rows only: the rules (who may enable, associate, configure what) live in `vigil.fleet.accounts` and
`vigil.fleet.organizations`, which read and write these rows inside their units of work.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from vigil.store.base import Base

ACCOUNT_ID_LENGTH = 12


class AccountRow(Base):
    """One account: its EC2 scanning status, scan mode, deep inspection and its membership."""

    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime]
    ec2_status: Mapped[str] = mapped_column(String(16))  # ENABLED | DISABLED
    ec2_status_at: Mapped[dt.datetime]
    scan_mode: Mapped[str] = mapped_column(String(32))  # the account's own: EC2_HYBRID | EC2_SSM_AGENT_BASED
    scan_mode_inherited: Mapped[bool]  # while a member: its administrator's mode applies instead
    deep_inspection: Mapped[str] = mapped_column(String(16))  # ACTIVATED | DEACTIVATED
    package_paths: Mapped[list[Any]]  # deep inspection's custom paths (at most 5)
    # the delegated administrator this account is, or was last, associated with
    admin_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.account_id"), index=True, default=None
    )
    relationship: Mapped[str] = mapped_column(String(16))  # CREATED | ENABLED | REMOVED
    relationship_at: Mapped[dt.datetime]


class AccessKeyRow(Base):
    """An access key id and its secret, sealed with the server's key file (SigV4 needs the secret)."""

    __tablename__ = "access_keys"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"), index=True)
    sealed_secret: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime]


class OrganizationRow(Base):
    """The server's organization: its management account, delegated administrator and shared paths."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)  # always ORGANIZATION: one organization per server
    management_account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"))
    delegated_admin_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.account_id"), default=None)
    delegated_admin_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    package_paths: Mapped[list[Any]]  # deep inspection paths the administrator sets for all its members


ORGANIZATION = 1
ASSOCIATED = "ENABLED"  # a member's relationship while it is associated with its administrator
EC2_ENABLED = "ENABLED"


def organization(session: Session) -> OrganizationRow | None:
    return session.get(OrganizationRow, ORGANIZATION)


def account(session: Session, account_id: str) -> AccountRow | None:
    return session.get(AccountRow, account_id)


def accounts(session: Session, account_ids: list[str] | None = None) -> list[AccountRow]:
    """These accounts (all when None), ordered by id."""
    query = select(AccountRow).order_by(AccountRow.account_id)
    if account_ids is not None:
        query = query.where(AccountRow.account_id.in_(account_ids))
    return list(session.scalars(query))


def members_of(session: Session, admin_id: str) -> list[AccountRow]:
    """The accounts associated with this administrator now, ordered by id."""
    query = (
        select(AccountRow)
        .where(AccountRow.admin_account_id == admin_id, AccountRow.relationship == ASSOCIATED)
        .order_by(AccountRow.account_id)
    )
    return list(session.scalars(query))


def member_count(session: Session, admin_id: str) -> int:
    query = select(func.count()).where(
        AccountRow.admin_account_id == admin_id, AccountRow.relationship == ASSOCIATED
    )
    return int(session.scalar(query) or 0)


def access_key(session: Session, access_key_id: str) -> AccessKeyRow | None:
    return session.get(AccessKeyRow, access_key_id)


def enabled_account_ids(session: Session) -> list[str]:
    query = select(AccountRow.account_id).where(AccountRow.ec2_status == EC2_ENABLED)
    return list(session.scalars(query.order_by(AccountRow.account_id)))
