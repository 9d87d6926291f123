"""findings, their filters and reports

Revision ID: 4fb5317e5df6
Revises:
Create Date: 2026-12-03 11:49:39.257895
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.base

revision = "4fb5317e5df6"
down_revision = None
branch_labels = ("findings",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finding_filters",
        sa.Column("arn", sa.String(length=128), nullable=False),
        sa.Column("owner_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=512), nullable=True),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_finding_filters")),
    )
    with op.batch_alter_table("finding_filters", schema=None) as batch_op:
        batch_op.create_index("ix_finding_filters_owner", ["owner_id", "action"], unique=False)

    op.create_table(
        "finding_reports",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=12), nullable=False),
        sa.Column("accounts", sa.JSON(), nullable=False),
        sa.Column("report_format", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.JSON(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_finding_reports")),
    )
    with op.batch_alter_table("finding_reports", schema=None) as batch_op:
        batch_op.create_index("ix_finding_reports_owner", ["owner_id", "kind", "created_at"], unique=False)

    op.create_table(
        "finding_resources",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("resource_id", sa.String(length=255), nullable=False),
        sa.Column("image_id", sa.String(length=255), nullable=True),
        sa.Column("platform", sa.String(length=1024), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("recorded_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "resource_id", name=op.f("pk_finding_resources")),
    )
    op.create_table(
        "findings",
        sa.Column("arn", sa.String(length=100), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("resource_id", sa.String(length=255), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("finding_type", sa.String(length=32), nullable=False),
        sa.Column("vulnerability_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=1024), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_observed_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_observed_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.String(length=64), nullable=True),
        sa.Column("purge_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("inspector_score", sa.Double(), nullable=True),
        sa.Column("epss_score", sa.Double(), nullable=True),
        sa.Column("fix_available", sa.String(length=8), nullable=True),
        sa.Column("exploit_available", sa.String(length=8), nullable=True),
        sa.Column("vulnerability_source", sa.String(length=64), nullable=True),
        sa.Column("vendor_severity", sa.String(length=64), nullable=True),
        sa.Column("image_id", sa.String(length=255), nullable=True),
        sa.Column("vpc_id", sa.String(length=255), nullable=True),
        sa.Column("subnet_id", sa.String(length=255), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_findings")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_findings_account_last_observed", ["account_id", "last_observed_at", "arn"], unique=False
        )
        batch_op.create_index(
            "ix_findings_account_resource",
            ["account_id", "resource_id", "severity_rank", "arn"],
            unique=False,
        )
        batch_op.create_index(
            "ix_findings_account_severity", ["account_id", "severity_rank", "arn"], unique=False
        )
        batch_op.create_index("ix_findings_purge_at", ["purge_at"], unique=False)
        batch_op.create_index("ix_findings_severity", ["severity_rank", "arn"], unique=False)

    op.create_table(
        "finding_packages",
        sa.Column("arn", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("version", sa.String(length=1024), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("release", sa.String(length=1024), nullable=True),
        sa.Column("arch", sa.String(length=64), nullable=True),
        sa.Column("file_path", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["arn"], ["findings.arn"], name=op.f("fk_finding_packages_arn_findings"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("arn", "position", name=op.f("pk_finding_packages")),
    )
    with op.batch_alter_table("finding_packages", schema=None) as batch_op:
        batch_op.create_index("ix_finding_packages_name", ["name"], unique=False)

    op.create_table(
        "finding_related_vulnerabilities",
        sa.Column("arn", sa.String(length=100), nullable=False),
        sa.Column("vulnerability_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["arn"],
            ["findings.arn"],
            name=op.f("fk_finding_related_vulnerabilities_arn_findings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("arn", "vulnerability_id", name=op.f("pk_finding_related_vulnerabilities")),
    )
    op.create_table(
        "finding_resource_tags",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("resource_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "resource_id"],
            ["finding_resources.account_id", "finding_resources.resource_id"],
            name=op.f("fk_finding_resource_tags_account_id_finding_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "resource_id", "key", name=op.f("pk_finding_resource_tags")),
    )
    with op.batch_alter_table("finding_resource_tags", schema=None) as batch_op:
        batch_op.create_index("ix_finding_resource_tags_key", ["key", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finding_resource_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_resource_tags_key")

    op.drop_table("finding_resource_tags")
    op.drop_table("finding_related_vulnerabilities")
    with op.batch_alter_table("finding_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_packages_name")

    op.drop_table("finding_packages")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_severity")
        batch_op.drop_index("ix_findings_purge_at")
        batch_op.drop_index("ix_findings_account_severity")
        batch_op.drop_index("ix_findings_account_resource")
        batch_op.drop_index("ix_findings_account_last_observed")

    op.drop_table("findings")
    op.drop_table("finding_resources")
    with op.batch_alter_table("finding_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_reports_owner")

    op.drop_table("finding_reports")
    with op.batch_alter_table("finding_filters", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_filters_owner")

    op.drop_table("finding_filters")
