"""A store whose findings were kept one JSON document each upgrades in place: every finding reads back the
same through ListFindings' reader, its packages and related vulnerabilities still filter it."""

from __future__ import annotations

import datetime as dt
import json

from alembic import command
from sqlalchemy import JSON, column, insert, select, table

from vigil.findings.service.criteria import parse_criteria, where
from vigil.findings.service.listing import finding_json, select_findings
from vigil.store.engine import make_engine, session_factory
from vigil.store.findings import FindingContentRow
from vigil.store.migrate import alembic_config, migrate

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _finding(arn: str, resource_id: str) -> dict:
    return {
        "findingArn": arn,
        "awsAccountId": "111122223333",
        "type": "PACKAGE_VULNERABILITY",
        "title": "CVE-2023-0286 - openssl",
        "description": "X.400 address type confusion",
        "severity": "HIGH",
        "packageVulnerabilityDetails": {
            "vulnerabilityId": "CVE-2023-0286",
            "source": "DEBIAN_CVE",
            "relatedVulnerabilities": ["DSA-5343-1"],
            "vulnerablePackages": [
                {"name": "openssl", "version": "1.1.1n", "epoch": 0, "release": "0+deb11u3", "arch": "amd64"}
            ],
        },
        "resources": [
            {"type": "AWS_EC2_INSTANCE", "id": resource_id, "partition": "aws", "region": "us-east-1"}
        ],
    }


def test_stored_findings_are_split_into_shared_contents(database_url):
    engine = make_engine(database_url)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "4fb5317e5df6")  # the findings branch as an earlier Vigil left it
    findings = table(
        "findings", *(column(c) for c in (
            "arn", "account_id", "resource_id", "resource_type", "finding_type", "vulnerability_id", "title",
            "severity_rank", "status", "first_observed_at", "last_observed_at", "updated_at", "content_hash",
        )), column("body", JSON()),
    )  # fmt: skip
    old = [
        _finding(f"arn:aws:inspector2:us-east-1:111122223333:finding/{n:032x}", f"i-{n:017x}") for n in (1, 2)
    ]
    with engine.begin() as connection:
        connection.execute(
            insert(findings),
            [
                {
                    "arn": f["findingArn"], "account_id": "111122223333", "resource_id": f["resources"][0]["id"],
                    "resource_type": "AWS_EC2_INSTANCE", "finding_type": "PACKAGE_VULNERABILITY",
                    "vulnerability_id": "CVE-2023-0286", "title": f["title"], "severity_rank": 4,
                    "status": "ACTIVE", "first_observed_at": NOW, "last_observed_at": NOW, "updated_at": NOW,
                    "content_hash": "0" * 64, "body": f,
                }
                for f in old
            ],
        )  # fmt: skip
        for f in old:
            connection.exec_driver_sql(
                "INSERT INTO finding_packages (arn, position, name, version, epoch) VALUES "
                f"('{f['findingArn']}', 0, 'openssl', '1.1.1n', 0)"
            )

    migrate(engine)

    sessions = session_factory(engine)
    with sessions() as session:
        assert len(session.scalars(select(FindingContentRow.digest)).all()) == 1  # the two share it
        read = [finding_json(r) for r in session.execute(select_findings().order_by("arn"))]
        by_package = session.execute(
            select_findings().where(where(parse_criteria({
                "vulnerablePackages": [{"name": {"comparison": "EQUALS", "value": "openssl"}}],
                "relatedVulnerabilities": [{"comparison": "EQUALS", "value": "DSA-5343-1"}],
            })))
        ).all()  # fmt: skip
    assert [{k: v for k, v in r.items() if k not in ("status", "firstObservedAt", "lastObservedAt", "updatedAt")}
            for r in read] == old  # fmt: skip
    assert len(by_package) == 2
    engine.dispose()


def test_a_downgrade_gives_each_finding_its_document_back(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    contents = table("finding_contents", column("digest"), column("body", JSON()))
    findings = table(
        "findings", *(column(c) for c in (
            "arn", "account_id", "resource_id", "resource_type", "finding_type", "vulnerability_id", "title",
            "severity_rank", "status", "first_observed_at", "last_observed_at", "updated_at", "content",
        )), column("resource", JSON()),
    )  # fmt: skip
    old = _finding("arn:aws:inspector2:us-east-1:111122223333:finding/" + "a" * 32, "i-0a1b2c3d4e5f60001")
    content = {k: v for k, v in old.items() if k not in ("findingArn", "awsAccountId", "resources")}
    with engine.begin() as connection:
        connection.execute(insert(contents), [{"digest": "d" * 64, "body": content}])
        connection.execute(insert(findings), [{
            "arn": old["findingArn"], "account_id": "111122223333", "resource_id": "i-0a1b2c3d4e5f60001",
            "resource_type": "AWS_EC2_INSTANCE", "finding_type": "PACKAGE_VULNERABILITY",
            "vulnerability_id": "CVE-2023-0286", "title": old["title"], "severity_rank": 4, "status": "ACTIVE",
            "first_observed_at": NOW, "last_observed_at": NOW, "updated_at": NOW, "content": "d" * 64,
            "resource": old["resources"][0],
        }])  # fmt: skip
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "4fb5317e5df6")
    with engine.connect() as connection:
        body = connection.exec_driver_sql("SELECT body FROM findings").scalar_one()
        body = json.loads(body) if isinstance(body, str) else body
        packages = connection.exec_driver_sql("SELECT name, version FROM finding_packages").all()
        related = connection.exec_driver_sql(
            "SELECT vulnerability_id FROM finding_related_vulnerabilities"
        ).all()
    assert body == old
    assert [tuple(p) for p in packages] == [("openssl", "1.1.1n")] and [r[0] for r in related] == [
        "DSA-5343-1"
    ]
    migrate(engine)  # and up again
    with session_factory(engine)() as session:
        (row,) = session.execute(select_findings()).all()
    assert {k: v for k, v in finding_json(row).items() if k not in ("status", "firstObservedAt", "lastObservedAt",
            "updatedAt")} == old  # fmt: skip
    engine.dispose()
