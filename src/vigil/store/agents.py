"""Agent-based scanning's tables: activations, the agents registered with them, the nonces their signed
requests used, and the associations each account's agents follow (DESIGN §2, §3.2, §7)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base

ACCOUNT_ID = String(12)
INSTANCE_ID = String(32)
CONTENT_HASH = String(64)


class ActivationRow(Base):
    """An activation (like SSM's hybrid activations): agents register with its id and code, at most
    `registration_limit` of them, until it expires or is deleted. Only the code's SHA-256 is kept."""

    __tablename__ = "activations"
    __table_args__ = (Index("ix_activations_account_id", "account_id"),)

    activation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ACCOUNT_ID)
    code_digest: Mapped[str] = mapped_column(String(64))
    registration_limit: Mapped[int]
    registrations: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[dt.datetime]
    default_instance_name: Mapped[str | None] = mapped_column(String(256))
    tags: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    deleted_at: Mapped[dt.datetime | None]  # deleted: no new registration (its agents keep working)


class AgentRow(Base):
    """A registered agent: the instance it speaks for, its secret (sealed with the server's key file: the
    signature check needs it), and what it last delivered.

    `os_hash` / `full_hash` are the last OS-only and whole (deep inspection) inventories accepted from it,
    kept (`*_document`) as the bases of its next diffs; `inventory_at` is its last inventory delivery of
    either kind, which makes an inventory fresh or stale (7 days); `full_limits` the limits its last deep
    inspection reached.
    """

    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("account_id", "instance_id"),
        Index("ix_agents_account_id", "account_id"),
    )

    agent_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ACCOUNT_ID)
    instance_id: Mapped[str] = mapped_column(INSTANCE_ID)
    activation_id: Mapped[str] = mapped_column(String(36))
    sealed_secret: Mapped[str] = mapped_column(String(256))
    previous_secret: Mapped[str | None] = mapped_column(String(256))  # valid until the new one is used
    rotate_requested: Mapped[bool] = mapped_column(default=False)
    hints: Mapped[dict[str, Any]]  # what the agent said of its machine (machine id, DMI UUID, hostname)
    agent_version: Mapped[str | None] = mapped_column(String(32))
    registered_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    inventory_at: Mapped[dt.datetime | None]
    os_hash: Mapped[str | None] = mapped_column(CONTENT_HASH)
    os_at: Mapped[dt.datetime | None]
    os_document: Mapped[bytes | None] = mapped_column(LargeBinary)  # zlib JSON: the base of the next diff
    full_hash: Mapped[str | None] = mapped_column(CONTENT_HASH)
    full_at: Mapped[dt.datetime | None]
    full_document: Mapped[bytes | None] = mapped_column(LargeBinary)
    full_limits: Mapped[list[Any]]
    made_hash: Mapped[str | None] = mapped_column(CONTENT_HASH)  # the instance inventory they last made


class AgentNonceRow(Base):
    """A nonce an agent's signed request used: a request carrying it again is a replay. Kept twice the
    allowed clock skew, after which the timestamp check alone refuses the request."""

    __tablename__ = "agent_nonces"
    __table_args__ = (Index("ix_agent_nonces_seen_at", "seen_at"),)

    agent_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen_at: Mapped[dt.datetime]


class AssociationRow(Base):
    """An association of an account: a document its agents run on a schedule (Inspector's are created when
    EC2 scanning is enabled, `owner` "inspector"; an account's own inventory association, "user")."""

    __tablename__ = "associations"

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[str] = mapped_column(String(128))
    schedule_expression: Mapped[str | None] = mapped_column(String(64))
    targets: Mapped[list[Any]]  # [{"Key": "InstanceIds", "Values": ["*"]}] as SSM writes them
    parameters: Mapped[dict[str, Any]]
    owner: Mapped[str] = mapped_column(String(16))  # inspector | user
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
