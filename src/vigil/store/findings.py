"""Findings as the store keeps them: the finding's JSON plus the columns its filters and sorts read.

One row per finding (stable ARN per account, instance and vulnerability) with its lifecycle (status and
times), the columns filters and sorts read, and the resource it was found on. What the finding says about the
vulnerability (title, description, packages, scores, remediation) is the same for every instance holding the
same packages, so it is kept once per distinct content (by digest) with its vulnerable packages and related
vulnerabilities as child rows (a package filter matches one package on all its fields): an advisory update
rewrites one content per inventory and points the instances' findings at it, never each finding's JSON.
Each instance's metadata and tags once, as last recorded (tag filters, instance aggregations).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base


class FindingRow(Base):
    __tablename__ = "findings"

    arn: Mapped[str] = mapped_column(String(100), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    resource_id: Mapped[str] = mapped_column(String(255))
    resource_type: Mapped[str] = mapped_column(String(64))
    finding_type: Mapped[str] = mapped_column(String(32))
    vulnerability_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(1024))
    severity_rank: Mapped[int]  # Severity.rank: filtered and sorted as one indexed integer
    status: Mapped[str] = mapped_column(String(16))  # ACTIVE | SUPPRESSED | CLOSED
    first_observed_at: Mapped[dt.datetime]
    last_observed_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(64))  # REMEDIATED, or why the resource went
    purge_at: Mapped[dt.datetime | None]  # a CLOSED finding is deleted then
    content: Mapped[str] = mapped_column(String(64))  # FindingContentRow.digest: what the finding says
    inspector_score: Mapped[float | None]
    epss_score: Mapped[float | None]
    fix_available: Mapped[str | None] = mapped_column(String(8))
    exploit_available: Mapped[str | None] = mapped_column(String(8))
    vulnerability_source: Mapped[str | None] = mapped_column(String(64))
    vendor_severity: Mapped[str | None] = mapped_column(String(64))
    image_id: Mapped[str | None] = mapped_column(String(255))
    vpc_id: Mapped[str | None] = mapped_column(String(255))
    subnet_id: Mapped[str | None] = mapped_column(String(255))
    resource: Mapped[dict[str, Any]]  # the finding's `resources[0]`, as the instance was when recorded
    # what the instance's exposure changes in its content (`vigil.findings.exposure`): the Inspector score
    # adjusted to its network, a listening process named; None when nothing
    exposure: Mapped[dict[str, Any] | None]
    # a network finding's protocol and open port range (filters `networkProtocol`, `portRange`)
    network_protocol: Mapped[str | None] = mapped_column(String(8))
    open_port_begin: Mapped[int | None]
    open_port_end: Mapped[int | None]

    __table_args__ = (
        # a page of one account's findings by severity, of one instance, and the default order
        Index("ix_findings_account_severity", "account_id", "severity_rank", "arn"),
        Index("ix_findings_severity", "severity_rank", "arn"),  # an administrator's page over many accounts
        Index("ix_findings_account_resource", "account_id", "resource_id", "severity_rank", "arn"),
        Index("ix_findings_account_last_observed", "account_id", "last_observed_at", "arn"),
        Index("ix_findings_purge_at", "purge_at"),
        Index("ix_findings_content", "content"),  # contents no finding holds any more are purged
    )


class FindingContentRow(Base):
    """What findings say about a vulnerability on some packages: their JSON without the finding's ARN,
    account, resource, status and times."""

    __tablename__ = "finding_contents"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the canonical JSON
    body: Mapped[dict[str, Any]]


class FindingPackageRow(Base):
    __tablename__ = "finding_content_packages"

    content: Mapped[str] = mapped_column(
        ForeignKey("finding_contents.digest", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    version: Mapped[str] = mapped_column(String(1024))
    epoch: Mapped[int]
    release: Mapped[str | None] = mapped_column(String(1024))
    arch: Mapped[str | None] = mapped_column(String(64))
    file_path: Mapped[str | None] = mapped_column(String(1024))

    __table_args__ = (Index("ix_finding_content_packages_name", "name"),)


class FindingRelatedRow(Base):
    __tablename__ = "finding_content_related"

    content: Mapped[str] = mapped_column(
        ForeignKey("finding_contents.digest", ondelete="CASCADE"), primary_key=True
    )
    vulnerability_id: Mapped[str] = mapped_column(String(128), primary_key=True)


class FindingComponentRow(Base):
    """A step of a network finding's path (filters `componentId`, `componentType`: any step matches)."""

    __tablename__ = "finding_content_components"

    content: Mapped[str] = mapped_column(
        ForeignKey("finding_contents.digest", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[str] = mapped_column(String(1024))
    component_type: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_finding_content_components_id", "component_id"),)


class FindingResourceRow(Base):
    """An instance that has (or had) findings, as last recorded."""

    __tablename__ = "finding_resources"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    image_id: Mapped[str | None] = mapped_column(String(255))
    platform: Mapped[str | None] = mapped_column(String(1024))
    tags: Mapped[dict[str, Any]]
    recorded_at: Mapped[dt.datetime]


class FindingResourceTagRow(Base):
    __tablename__ = "finding_resource_tags"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "resource_id"],
            ["finding_resources.account_id", "finding_resources.resource_id"],
            ondelete="CASCADE",
        ),
        Index("ix_finding_resource_tags_key", "key", "value"),
    )
