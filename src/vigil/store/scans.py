"""Scans: one row per agentless scan of one instance, from its request to its end (DESIGN §3.4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base


class ScanRow(Base):
    """What a scan did: its snapshots (how each volume was taken), its outcome and why.

    `runner` names the process that owns a QUEUED or RUNNING scan: a scan left in those states by a process
    that is gone (killed) is ended as interrupted when the next one starts.
    """

    __tablename__ = "scans"
    __table_args__ = (
        Index("ix_scans_account_instance", "account_id", "instance_id"),
        Index("ix_scans_status", "status"),
    )

    scan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    instance_id: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | request
    status: Mapped[str] = mapped_column(String(16))  # QUEUED | RUNNING | SUCCEEDED | FAILED | CANCELLED
    reason: Mapped[str | None] = mapped_column(String(64))  # the coverage reason it gives
    detail: Mapped[str | None] = mapped_column(String(2048))
    runner: Mapped[str] = mapped_column(String(64))
    snapshots: Mapped[list[Any]]
    requested_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    inventory_hash: Mapped[str | None] = mapped_column(String(64))
    packages: Mapped[int | None]
    findings: Mapped[int | None]
