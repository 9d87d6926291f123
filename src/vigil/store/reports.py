"""Findings reports and SBOM exports: what was asked, by whom, and how far it got."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base


class ReportRow(Base):
    __tablename__ = "finding_reports"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # FINDINGS | SBOM
    owner_id: Mapped[str] = mapped_column(String(12))
    accounts: Mapped[list[Any]]  # the accounts the owner could see when asking: the report covers no other
    report_format: Mapped[str] = mapped_column(String(16))  # CSV | JSON | CYCLONEDX_1_4 | SPDX_2_3
    destination: Mapped[dict[str, Any]]  # s3Destination as given
    criteria: Mapped[dict[str, Any]]  # filterCriteria (findings) or resourceFilterCriteria (SBOM)
    status: Mapped[str] = mapped_column(String(16))  # IN_PROGRESS | SUCCEEDED | CANCELLED | FAILED
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_finding_reports_owner", "owner_id", "kind", "created_at"),)
