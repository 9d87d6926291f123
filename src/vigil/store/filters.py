"""Findings filters (`CreateFilter`): the criteria as the request gave them, owned by one account."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base


class FilterRow(Base):
    __tablename__ = "finding_filters"

    arn: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))  # NONE | SUPPRESS
    criteria: Mapped[dict[str, Any]]  # FilterCriteria, timestamps as epoch seconds
    description: Mapped[str | None] = mapped_column(String(512))
    reason: Mapped[str | None] = mapped_column(String(512))
    tags: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_finding_filters_owner", "owner_id", "action"),)
