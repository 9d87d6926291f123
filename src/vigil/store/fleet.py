"""The fleet's tables: providers attached to accounts, the instances they describe, their KMS keys, metered
usage and the scheduler's own state (DESIGN §2, §8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base

ACCOUNT_ID = String(12)
INSTANCE_ID = String(32)


class ProviderRow(Base):
    """A provider attached to an account: where its instances come from (`local`: a fleet file)."""

    __tablename__ = "providers"

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    config: Mapped[dict[str, Any]]
    attached_at: Mapped[dt.datetime]
    discovered_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(String(2048))  # why the last discovery failed, if it did


class InstanceRow(Base):
    """One instance as its provider last described it, with what scanning made of it.

    `description` is the frozen `Instance` as JSON (`vigil.fleet.instances`); the columns beside it are what
    queries select on. A terminated or vanished instance stays (RESOURCE_TERMINATED) until the purge.
    """

    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_inventory_hash", "inventory_hash"),)

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    instance_id: Mapped[str] = mapped_column(INSTANCE_ID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    description: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(default=1)  # counts the description's changes (cached by it)
    first_seen_at: Mapped[dt.datetime]
    changed_at: Mapped[dt.datetime]  # the description last changed (a new instance: first seen)
    terminated_at: Mapped[dt.datetime | None]
    vanished: Mapped[bool] = mapped_column(default=False)  # gone from the provider, not only terminated
    # the last agentless scan that finished (succeeded or failed; a cancelled one leaves these as they were)
    scan_started_at: Mapped[dt.datetime | None]
    scan_outcome: Mapped[str | None] = mapped_column(String(16))  # SUCCEEDED | FAILED
    scan_reason: Mapped[str | None] = mapped_column(String(64))  # the coverage reason it gave
    last_scanned_at: Mapped[dt.datetime | None]  # the last scan or re-evaluation that produced findings
    inventory_hash: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("inventories.content_hash", ondelete="SET NULL")
    )
    closed_reason: Mapped[str | None] = mapped_column(String(64))  # findings closed for this reason


class KmsKeyRow(Base):
    """A KMS key the account's provider knows: its tags (exclusion) and whether scans may use it."""

    __tablename__ = "kms_keys"

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    tags: Mapped[dict[str, Any]]
    usable: Mapped[bool]


class UsagePeriodRow(Base):
    """A span of time an instance was covered, metered as one usage type (`ListUsageTotals`)."""

    __tablename__ = "usage_periods"
    __table_args__ = (Index("ix_usage_periods_account_ended", "account_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ACCOUNT_ID)
    instance_id: Mapped[str] = mapped_column(INSTANCE_ID)
    usage_type: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]


class FleetStateRow(Base):
    """What the scheduler must remember across restarts: when each periodic job last ran, the advisory
    database version the stored findings reflect."""

    __tablename__ = "fleet_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]
