"""findings: the exposure of a finding's instance (adjusted Inspector score, listening process); network
findings' protocol, port range and path components

Revision ID: 5c2e9a0d7b14
Revises: 910e8bb6a4fa
Create Date: 2026-12-04 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5c2e9a0d7b14"
down_revision = "910e8bb6a4fa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finding_content_components",
        sa.Column("content", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("component_id", sa.String(length=1024), nullable=False),
        sa.Column("component_type", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["content"],
            ["finding_contents.digest"],
            name=op.f("fk_finding_content_components_content_finding_contents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("content", "position", name=op.f("pk_finding_content_components")),
    )
    op.create_index(
        "ix_finding_content_components_id", "finding_content_components", ["component_id"], unique=False
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exposure", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("network_protocol", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("open_port_begin", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("open_port_end", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_finding_content_components_id", table_name="finding_content_components")
    op.drop_table("finding_content_components")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("open_port_end")
        batch_op.drop_column("open_port_begin")
        batch_op.drop_column("network_protocol")
        batch_op.drop_column("exposure")
