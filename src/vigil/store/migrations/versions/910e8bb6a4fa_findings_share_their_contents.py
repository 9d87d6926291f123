"""findings share their contents

What a finding says about its vulnerability is kept once per distinct content (`finding_contents`, with its
packages and related vulnerabilities), the finding row keeping its resource: an advisory update rewrites one
content per inventory instead of every instance's finding. The stored findings are split in place.

Revision ID: 910e8bb6a4fa
Revises: 4fb5317e5df6
Create Date: 2026-12-03 13:27:10.912803
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "910e8bb6a4fa"
down_revision = "4fb5317e5df6"
branch_labels = None
depends_on = None

NAMING = ("findingArn", "awsAccountId", "resources")
BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "finding_contents",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_finding_contents")),
    )
    op.create_table(
        "finding_content_packages",
        sa.Column("content", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("version", sa.String(length=1024), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("release", sa.String(length=1024), nullable=True),
        sa.Column("arch", sa.String(length=64), nullable=True),
        sa.Column("file_path", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["content"],
            ["finding_contents.digest"],
            name=op.f("fk_finding_content_packages_content_finding_contents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("content", "position", name=op.f("pk_finding_content_packages")),
    )
    with op.batch_alter_table("finding_content_packages", schema=None) as batch_op:
        batch_op.create_index("ix_finding_content_packages_name", ["name"], unique=False)
    op.create_table(
        "finding_content_related",
        sa.Column("content", sa.String(length=64), nullable=False),
        sa.Column("vulnerability_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["content"],
            ["finding_contents.digest"],
            name=op.f("fk_finding_content_related_content_finding_contents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("content", "vulnerability_id", name=op.f("pk_finding_content_related")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("resource", sa.JSON(), nullable=True))
    _split_stored_findings()
    with op.batch_alter_table("finding_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_packages_name"))
    op.drop_table("finding_packages")
    op.drop_table("finding_related_vulnerabilities")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.alter_column("content", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("resource", existing_type=sa.JSON(), nullable=False)
        batch_op.create_index("ix_findings_content", ["content"], unique=False)
        batch_op.drop_column("content_hash")
        batch_op.drop_column("body")


def _split_stored_findings() -> None:
    """Each stored finding's JSON split into its content (stored once) and its resource."""
    connection = op.get_bind()
    findings = sa.table(
        "findings", sa.column("arn"), sa.column("body", sa.JSON()), sa.column("content"),
        sa.column("resource", sa.JSON()),
    )  # fmt: skip
    contents = sa.table("finding_contents", sa.column("digest"), sa.column("body", sa.JSON()))
    packages = sa.table(
        "finding_content_packages", sa.column("content"), sa.column("position"), sa.column("name"),
        sa.column("version"), sa.column("epoch"), sa.column("release"), sa.column("arch"),
        sa.column("file_path"),
    )  # fmt: skip
    related = sa.table("finding_content_related", sa.column("content"), sa.column("vulnerability_id"))
    stored: set[str] = set()
    after = ""
    while True:
        rows = connection.execute(
            sa.select(findings.c.arn, findings.c.body)
            .where(findings.c.arn > after)
            .order_by(findings.c.arn)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates, new_contents, new_packages, new_related = [], [], [], []
        for arn, body in rows:
            body = json.loads(body) if isinstance(body, str) else body
            content = {k: v for k, v in body.items() if k not in NAMING}
            canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            updates.append({"key": arn, "content": digest, "resource": body["resources"][0]})
            if digest in stored:
                continue
            stored.add(digest)
            new_contents.append({"digest": digest, "body": content})
            details: dict[str, Any] = content.get("packageVulnerabilityDetails", {})
            for position, package in enumerate(details.get("vulnerablePackages", [])):
                new_packages.append({
                    "content": digest, "position": position, "name": package["name"],
                    "version": package["version"], "epoch": package.get("epoch", 0),
                    "release": package.get("release"), "arch": package.get("arch"),
                    "file_path": package.get("filePath"),
                })  # fmt: skip
            new_related += [
                {"content": digest, "vulnerability_id": v}
                for v in dict.fromkeys(details.get("relatedVulnerabilities", []))
            ]
        for table, values in ((contents, new_contents), (packages, new_packages), (related, new_related)):
            if values:
                connection.execute(sa.insert(table), values)
        connection.execute(
            sa.update(findings)
            .where(findings.c.arn == sa.bindparam("key"))
            .values(content=sa.bindparam("content"), resource=sa.bindparam("resource")),
            updates,
        )
        after = rows[-1][0]


def downgrade() -> None:
    """Back to one JSON document per finding, with its packages and related vulnerabilities per ARN."""
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
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
    _join_stored_findings()
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.alter_column("body", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("content_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index("ix_findings_content")
        batch_op.drop_column("resource")
        batch_op.drop_column("content")
    _fill_packages()  # after the table is rebuilt: SQLite's rebuild deletes the rows referring to it
    op.drop_table("finding_content_related")
    with op.batch_alter_table("finding_content_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_content_packages_name")
    op.drop_table("finding_content_packages")
    op.drop_table("finding_contents")


def _join_stored_findings() -> None:
    """Each finding's JSON made again from its content and resource (the earlier version's digest of it)."""
    connection = op.get_bind()
    findings = sa.table(
        "findings", sa.column("arn"), sa.column("account_id"), sa.column("content"),
        sa.column("resource", sa.JSON()), sa.column("body", sa.JSON()), sa.column("content_hash"),
    )  # fmt: skip
    contents = sa.table("finding_contents", sa.column("digest"), sa.column("body", sa.JSON()))
    after = ""
    while True:
        rows = connection.execute(
            sa.select(findings.c.arn, findings.c.account_id, findings.c.resource, contents.c.body)
            .join(contents, contents.c.digest == findings.c.content)
            .where(findings.c.arn > after)
            .order_by(findings.c.arn)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for arn, account, resource, content in rows:
            resource = json.loads(resource) if isinstance(resource, str) else resource
            content = json.loads(content) if isinstance(content, str) else content
            body = {"findingArn": arn, "awsAccountId": account, **content, "resources": [resource]}
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
            updates.append(
                {"key": arn, "body": body, "content_hash": hashlib.sha256(canonical.encode()).hexdigest()}
            )
        connection.execute(
            sa.update(findings)
            .where(findings.c.arn == sa.bindparam("key"))
            .values(body=sa.bindparam("body"), content_hash=sa.bindparam("content_hash")),
            updates,
        )
        after = rows[-1][0]


def _fill_packages() -> None:
    """Each finding's vulnerable packages and related vulnerabilities, from its document, per ARN."""
    connection = op.get_bind()
    findings = sa.table("findings", sa.column("arn"), sa.column("body", sa.JSON()))
    packages = sa.table(
        "finding_packages", sa.column("arn"), sa.column("position"), sa.column("name"), sa.column("version"),
        sa.column("epoch"), sa.column("release"), sa.column("arch"), sa.column("file_path"),
    )  # fmt: skip
    related = sa.table("finding_related_vulnerabilities", sa.column("arn"), sa.column("vulnerability_id"))
    after = ""
    while True:
        rows = connection.execute(
            sa.select(findings.c.arn, findings.c.body)
            .where(findings.c.arn > after)
            .order_by(findings.c.arn)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        old_packages, old_related = [], []
        for arn, body in rows:
            body = json.loads(body) if isinstance(body, str) else body
            details: dict[str, Any] = body.get("packageVulnerabilityDetails", {})
            for position, package in enumerate(details.get("vulnerablePackages", [])):
                old_packages.append({
                    "arn": arn, "position": position, "name": package["name"], "version": package["version"],
                    "epoch": package.get("epoch", 0), "release": package.get("release"),
                    "arch": package.get("arch"), "file_path": package.get("filePath"),
                })  # fmt: skip
            old_related += [
                {"arn": arn, "vulnerability_id": v}
                for v in dict.fromkeys(details.get("relatedVulnerabilities", []))
            ]
        for table, values in ((packages, old_packages), (related, old_related)):
            if values:
                connection.execute(sa.insert(table), values)
        after = rows[-1][0]
