"""accounts: accounts, access keys, organization

Revision ID: f3181efd02b2
Revises: (none: the first of the accounts branch)
Create Date: 2026-12-03 11:41:02.495744
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.base

revision = "f3181efd02b2"
down_revision = None
branch_labels = ("accounts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ec2_status", sa.String(length=16), nullable=False),
        sa.Column("ec2_status_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("scan_mode", sa.String(length=32), nullable=False),
        sa.Column("scan_mode_inherited", sa.Boolean(), nullable=False),
        sa.Column("deep_inspection", sa.String(length=16), nullable=False),
        sa.Column("package_paths", sa.JSON(), nullable=False),
        sa.Column("admin_account_id", sa.String(length=12), nullable=True),
        sa.Column("relationship", sa.String(length=16), nullable=False),
        sa.Column("relationship_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_account_id"], ["accounts.account_id"], name=op.f("fk_accounts_admin_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_admin_account_id"), ["admin_account_id"], unique=False)

    op.create_table(
        "access_keys",
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("sealed_secret", sa.String(length=256), nullable=False),
        sa.Column("created_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_access_keys_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_access_keys")),
    )
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_keys_account_id"), ["account_id"], unique=False)

    op.create_table(
        "organization",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("management_account_id", sa.String(length=12), nullable=False),
        sa.Column("delegated_admin_id", sa.String(length=12), nullable=True),
        sa.Column("delegated_admin_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("package_paths", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delegated_admin_id"],
            ["accounts.account_id"],
            name=op.f("fk_organization_delegated_admin_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["management_account_id"],
            ["accounts.account_id"],
            name=op.f("fk_organization_management_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
    )


def downgrade() -> None:
    op.drop_table("organization")
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_keys_account_id"))

    op.drop_table("access_keys")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_admin_account_id"))

    op.drop_table("accounts")
