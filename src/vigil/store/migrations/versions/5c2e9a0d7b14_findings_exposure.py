"""findings: the exposure of a finding's instance (adjusted Inspector score, listening process)

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
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exposure", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("exposure")
