"""fleet: providers, instances, kms keys, usage, scheduler state, inventories and their package index, scans

Revision ID: cfdc23579ab7
Revises:
Create Date: 2026-12-03 12:16:04.242780
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vigil.store.base

revision = "cfdc23579ab7"
down_revision = None
branch_labels = ("fleet",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_fleet_state")),
    )
    op.create_table(
        "inventories",
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("stored_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("content_hash", name=op.f("pk_inventories")),
    )
    op.create_table(
        "kms_keys",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("key_id", sa.String(length=256), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("usable", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "key_id", name=op.f("pk_kms_keys")),
    )
    op.create_table(
        "providers",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("attached_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("discovered_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=2048), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "kind", name=op.f("pk_providers")),
    )
    op.create_table(
        "scans",
        sa.Column("scan_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=2048), nullable=True),
        sa.Column("runner", sa.String(length=64), nullable=False),
        sa.Column("snapshots", sa.JSON(), nullable=False),
        sa.Column("requested_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("inventory_hash", sa.String(length=64), nullable=True),
        sa.Column("packages", sa.Integer(), nullable=True),
        sa.Column("findings", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index("ix_scans_account_instance", ["account_id", "instance_id"], unique=False)
        batch_op.create_index("ix_scans_status", ["status"], unique=False)

    op.create_table(
        "usage_periods",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("usage_type", sa.String(length=40), nullable=False),
        sa.Column("started_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_periods")),
    )
    with op.batch_alter_table("usage_periods", schema=None) as batch_op:
        batch_op.create_index("ix_usage_periods_account_ended", ["account_id", "ended_at"], unique=False)

    op.create_table(
        "instances",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", vigil.store.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("vanished", sa.Boolean(), nullable=False),
        sa.Column("scan_started_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("scan_outcome", sa.String(length=16), nullable=True),
        sa.Column("scan_reason", sa.String(length=64), nullable=True),
        sa.Column("last_scanned_at", vigil.store.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("inventory_hash", sa.String(length=64), nullable=True),
        sa.Column("closed_reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["inventory_hash"],
            ["inventories.content_hash"],
            name=op.f("fk_instances_inventory_hash_inventories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("account_id", "instance_id", name=op.f("pk_instances")),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.create_index("ix_instances_inventory_hash", ["inventory_hash"], unique=False)

    op.create_table(
        "inventory_packages",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=512), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_hash"],
            ["inventories.content_hash"],
            name=op.f("fk_inventory_packages_content_hash_inventories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace", "package", "content_hash", name=op.f("pk_inventory_packages")),
    )
    with op.batch_alter_table("inventory_packages", schema=None) as batch_op:
        batch_op.create_index("ix_inventory_packages_content_hash", ["content_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inventory_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_packages_content_hash")

    op.drop_table("inventory_packages")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_inventory_hash")

    op.drop_table("instances")
    with op.batch_alter_table("usage_periods", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_periods_account_ended")

    op.drop_table("usage_periods")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_status")
        batch_op.drop_index("ix_scans_account_instance")

    op.drop_table("scans")
    op.drop_table("providers")
    op.drop_table("kms_keys")
    op.drop_table("inventories")
    op.drop_table("fleet_state")
