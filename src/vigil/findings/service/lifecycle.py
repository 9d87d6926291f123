"""The findings lifecycle (DESIGN §4): what one evaluation of an instance does to its stored findings.

A finding is known by its ARN, stable per (account, instance, vulnerability). Seen again, it keeps its
`firstObservedAt`; not seen in the instance's latest evaluation, it is CLOSED (remediated) and deleted 30 days
later; back within 7 days of closing, the same finding reopens; later than that it starts over. Findings of
an instance that was terminated, excluded or became ineligible are closed and deleted after 3 days. Whether an
open finding is ACTIVE or SUPPRESSED is decided by the suppression filters, whenever either changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from vigil.findings.evaluate import Evaluation
from vigil.findings.exposure import Exposure, overlay
from vigil.findings.inspector import Resource, finding_arn
from vigil.findings.model import EC2_INSTANCE, PACKAGE_VULNERABILITY, Finding, clip
from vigil.findings.network import NETWORK_REACHABILITY
from vigil.findings.service.contents import (
    Content,
    described_resource,
    drop_unused_contents,
    insert_many,
    save_contents,
)
from vigil.findings.service.exposures import stored_exposures
from vigil.findings.service.suppression import ACTIVE, CLOSED, suppress
from vigil.fleet.model import Instance
from vigil.store.engine import transaction
from vigil.store.findings import (
    FindingContentRow,
    FindingPackageRow,
    FindingResourceRow,
    FindingResourceTagRow,
    FindingRow,
)

REOPEN_WITHIN = dt.timedelta(days=7)
PURGE_REMEDIATED_AFTER = dt.timedelta(days=30)
PURGE_GONE_AFTER = dt.timedelta(days=3)
REMEDIATED = "REMEDIATED"
_ARNS_PER_QUERY = 500
_TEMPLATES_KEPT = 20_000  # findings' contents remembered across re-evaluated inventories

# whose filters apply, read in the caller's own transaction (a second one would wait for it: SQLite)
FilterOwners = Callable[[Session, str], Collection[str]]
"""The accounts whose SUPPRESS filters apply to an account's findings: itself and its delegated
administrator."""


def own_filters_only(session: Session, account_id: str) -> Collection[str]:
    return (account_id,)


# the instances' exposures (network analysis, agents' listener reports), read in the caller's transaction
Exposures = Callable[[Session, Sequence[Instance]], Mapping[tuple[str, str], Exposure]]


def no_exposures(session: Session, instances: Sequence[Instance]) -> Mapping[tuple[str, str], Exposure]:
    return {}


Prepared = tuple[Instance, dict[str, tuple[Content, dict[str, Any]]], str | None]


class FindingsService:
    """Implements `FindingsRecorder` over the store; `filter_owners` says whose filters suppress whose
    findings (the organization)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        filter_owners: FilterOwners = own_filters_only,
        exposures: Exposures = stored_exposures,
    ) -> None:
        self._sessions = sessions
        self.filter_owners = filter_owners
        self.exposures = exposures
        self._templates: dict[tuple[Any, ...], tuple[Finding, Content, dict[str, Any]]] = {}

    def record(self, instance: Instance, evaluation: Evaluation, now: dt.datetime) -> None:
        self.record_many([(instance, evaluation)], now)

    def record_many(self, evaluated: Sequence[tuple[Instance, Evaluation]], now: dt.datetime) -> None:
        """Several instances' evaluations (the holders of one inventory) recorded in one transaction, each
        as `record` records one: the store writes the index pages they share once."""
        prepared: list[Prepared] = []
        # the holders of one inventory have the same findings but for their names (`evaluate_instances`
        # shares the members): each content is worked out once, known by the identity of its members
        contents: dict[tuple[int, ...], Content] = {}
        for instance, evaluation in evaluated:
            account, resource = instance.account_id, instance.instance_id
            findings: dict[str, tuple[Content, dict[str, Any]]] = {}
            for finding in evaluation.findings:
                if (finding.account_id, finding.resource_id) != (account, resource):
                    raise ValueError(f"{finding.arn} is not a finding of {account}/{resource}")
                same = tuple(id(getattr(finding, member)) for member in _CONTENT_MEMBERS)
                content = contents.get(same)
                if content is None:
                    content = contents[same] = Content.of(finding.to_json())
                findings[finding.arn] = (content, described_resource(_named(finding), instance))
            platform = next((r["details"]["awsEc2Instance"]["platform"] for _, r in findings.values()), None)
            prepared.append((instance, findings, platform))
        self._record(prepared, now, PACKAGE_VULNERABILITY)

    def record_network(
        self, analysed: Sequence[tuple[Instance, Sequence[Mapping[str, Any]]]], now: dt.datetime
    ) -> None:
        """Instances' network analyses: each one's `NETWORK_REACHABILITY` findings (`vigil.findings.network`)
        recorded with the same lifecycle as package findings, which it leaves as they are."""
        prepared: list[Prepared] = []
        for instance, findings in analysed:
            recorded: dict[str, tuple[Content, dict[str, Any]]] = {}
            for finding in findings:
                if (finding["awsAccountId"], finding["resources"][0]["id"]) != (
                    instance.account_id, instance.instance_id,
                ):  # fmt: skip
                    raise ValueError(f"{finding['findingArn']} is not a finding of {instance.instance_id}")
                if finding["type"] != NETWORK_REACHABILITY:
                    raise ValueError(f"{finding['findingArn']} is not a network finding")
                recorded[finding["findingArn"]] = (Content.of(finding), described_resource(finding, instance))
            prepared.append((instance, recorded, None))
        if prepared:
            self._record(prepared, now, NETWORK_REACHABILITY)

    def _record(self, prepared: list[Prepared], now: dt.datetime, finding_type: str) -> None:
        """Record each instance's findings of this type: the instance's other findings of this type close."""
        keys = [(i.account_id, i.instance_id) for i, _, _ in prepared]
        if len(set(keys)) != len(keys):
            raise ValueError("an instance is recorded twice in one batch")
        prepared.sort(key=lambda p: (p[0].account_id, p[0].instance_id))  # row locks in one order
        with transaction(self._sessions) as session:
            _save_resources(session, prepared, now)  # first: their row locks order recordings
            instances = [i for i, _, _ in prepared]
            known = _known_of(session, instances, finding_type)
            exposures = self.exposures(session, instances) if finding_type == PACKAGE_VULNERABILITY else {}
            save_contents(session, (content for _, f, _ in prepared for content, _ in f.values()))
            new, rewritten, seen, gone = [], [], [], []
            for instance, findings, _ in prepared:
                rows = known.get((instance.account_id, instance.instance_id), {})
                exposure = exposures.get((instance.account_id, instance.instance_id))
                for arn, (content, described) in findings.items():
                    row = rows.get(arn)
                    columns = _columns(arn, content, described, instance, exposure)
                    if row is None:
                        new.append(columns | _opened(now, first=now))
                    elif row.status == CLOSED:
                        rewritten.append(columns | _opened(now, first=_reopened_first(row.closed_at, now)))
                    elif (
                        row.content != content.digest
                        or row.resource != described
                        or row.exposure != columns["exposure"]
                    ):
                        rewritten.append(columns | {"last_observed_at": now, "updated_at": now})
                    else:
                        seen.append(arn)
                gone += [a for a, row in rows.items() if row.status != CLOSED and a not in findings]
            insert_many(session, FindingRow, new)
            if rewritten:
                session.execute(update(FindingRow), rewritten)
            for start in range(0, len(seen), _ARNS_PER_QUERY):
                chunk = seen[start : start + _ARNS_PER_QUERY]
                session.execute(
                    update(FindingRow).where(FindingRow.arn.in_(chunk)).values(last_observed_at=now)
                )
            for start in range(0, len(gone), _ARNS_PER_QUERY):
                chunk = gone[start : start + _ARNS_PER_QUERY]
                _close(session, FindingRow.arn.in_(chunk), now, REMEDIATED, PURGE_REMEDIATED_AFTER)
            by_account: dict[str, list[str]] = {}
            for account, resource in sorted(keys):
                by_account.setdefault(account, []).append(resource)
            for account, resources in by_account.items():
                owners = self.filter_owners(session, account)
                for start in range(0, len(resources), _ARNS_PER_QUERY):
                    chunk = resources[start : start + _ARNS_PER_QUERY]
                    suppress(session, account, owners, now, resource_ids=chunk)

    def record_vulnerabilities(
        self,
        instances: Sequence[Instance],
        vulnerabilities: Collection[str],
        findings: Sequence[Finding],
        now: dt.datetime,
        *,
        region: str,
    ) -> int:
        """Record a re-evaluation of these vulnerabilities alone on instances holding the same inventory
        (after an advisory update changed them); returns how many findings changed.

        `findings` are the first instance's findings of these vulnerabilities; every other instance's are
        the same, named for it. A finding whose content changed is pointed at the new content, one that
        appears is opened (or reopened), one of these vulnerabilities no longer found is closed; the
        instances' other findings, and those that did not change, are left as they are (their
        `lastObservedAt` too: it moves when a finding is updated or an instance scanned).
        """
        if not instances:
            return 0
        first = instances[0]
        wanted = set(vulnerabilities)
        templates: dict[str, tuple[Content, dict[str, Any], str]] = {}
        for finding in findings:
            if (finding.account_id, finding.resource_id) != (first.account_id, first.instance_id):
                raise ValueError(f"{finding.arn} is not a finding of {first.account_id}/{first.instance_id}")
            if finding.vulnerability_id not in wanted:
                raise ValueError(f"{finding.arn} is not of the re-evaluated vulnerabilities")
            content, document = self._template(finding)
            platform = document["resources"][0]["details"]["awsEc2Instance"].get("platform", "UNKNOWN")
            templates[finding.vulnerability_id] = (content, document, platform)
        with transaction(self._sessions) as session:
            expected = {v: templates[v][0].digest if v in templates else None for v in wanted}
            differing = sorted(_differing(session, instances, expected))
            arns: dict[str, tuple[Instance, str]] = {}
            for instance in instances:
                resource = Resource(instance.account_id, region, instance.instance_id, "UNKNOWN")
                for vulnerability in differing:
                    arns[finding_arn(resource, vulnerability)] = (instance, vulnerability)
            known = _known(session, list(arns))
            exposures = self.exposures(session, instances) if arns else {}
            save_contents(session, (content for content, _, _ in templates.values()))
            new, rewritten, changed, gone = [], [], [], []
            described: dict[tuple[str, str], dict[str, Any]] = {}
            for arn, (instance, vulnerability) in arns.items():
                row = known.get(arn)
                template = templates.get(vulnerability)
                if template is None:
                    if row is not None and row.status != CLOSED:
                        gone.append(arn)
                    continue
                content, document, _ = template
                exposure = exposures.get((instance.account_id, instance.instance_id))
                if row is not None and row.status != CLOSED:
                    if row.content != content.digest:
                        changed.append({"arn": arn, **_exposed(content, exposure), "last_observed_at": now})
                    continue
                key = (instance.account_id, instance.instance_id)
                if key not in described:
                    named = {**document, "findingArn": arn, "resources": [_renamed(document, instance)]}
                    described[key] = described_resource(named, instance)
                columns = _columns(arn, content, described[key], instance, exposure)
                if row is None:
                    new.append(columns | _opened(now, first=now))
                else:
                    rewritten.append(columns | _opened(now, first=_reopened_first(row.closed_at, now)))
            insert_many(session, FindingRow, new)
            for rows in (rewritten, [r | {"updated_at": now} for r in changed]):
                if rows:
                    session.execute(update(FindingRow), rows)
            for start in range(0, len(gone), _ARNS_PER_QUERY):
                chunk = gone[start : start + _ARNS_PER_QUERY]
                _close(session, FindingRow.arn.in_(chunk), now, REMEDIATED, PURGE_REMEDIATED_AFTER)
            touched = [r["arn"] for r in (*new, *rewritten, *changed)]
            by_account: dict[str, list[str]] = {}
            for arn in touched:
                by_account.setdefault(arns[arn][0].account_id, []).append(arn)
            for account, account_arns in sorted(by_account.items()):
                owners = self.filter_owners(session, account)
                for start in range(0, len(account_arns), _ARNS_PER_QUERY):
                    suppress(
                        session, account, owners, now, arns=account_arns[start : start + _ARNS_PER_QUERY]
                    )
        return len(touched) + len(gone)

    def _template(self, finding: Finding) -> tuple[Content, dict[str, Any]]:
        """The finding's content and JSON, worked out once for the same members: a re-evaluation pass
        records the same findings (the same objects, named for each inventory's first holder) for many
        inventories. The finding is kept with them, so that the ids of its members are not reused."""
        key = (finding.platform, *(id(getattr(finding, member)) for member in _CONTENT_MEMBERS))
        known = self._templates.get(key)
        if known is not None:
            return known[1], known[2]
        document = finding.to_json()
        content = Content.of(document)
        if len(self._templates) >= _TEMPLATES_KEPT:
            self._templates.clear()
        self._templates[key] = (finding, content, document)
        return content, document

    def open_vulnerabilities(
        self, instances: Collection[Instance]
    ) -> dict[tuple[str, str], dict[str, set[str]]]:
        """Per instance (account, id), the vulnerabilities of its open findings, each with the names of its
        packages (none for a finding without packages, such as the OS's end of life)."""
        by_account: dict[str, list[str]] = {}
        for instance in instances:
            by_account.setdefault(instance.account_id, []).append(instance.instance_id)
        found: dict[tuple[str, str], dict[str, set[str]]] = {}
        with self._sessions() as session:
            for account, resources in sorted(by_account.items()):
                for start in range(0, len(resources), _ARNS_PER_QUERY):
                    statement = (
                        select(FindingRow.resource_id, FindingRow.vulnerability_id, FindingPackageRow.name)
                        .outerjoin(FindingPackageRow, FindingPackageRow.content == FindingRow.content)
                        .where(
                            FindingRow.account_id == account,
                            FindingRow.resource_id.in_(resources[start : start + _ARNS_PER_QUERY]),
                            FindingRow.status != CLOSED,
                            FindingRow.finding_type == PACKAGE_VULNERABILITY,
                        )
                    )
                    for resource, vulnerability, name in session.execute(statement):
                        names = found.setdefault((account, resource), {}).setdefault(vulnerability, set())
                        if name is not None:
                            names.add(name)
        return found

    def reexpose(self, instances: Sequence[Instance], now: dt.datetime) -> int:
        """The instances' exposure changed (a network analysis, an agent's listener report): their open
        package findings' overlays (adjusted score, listening process) are worked out again; returns how
        many findings changed (their `updatedAt` moves)."""
        if not instances:
            return 0
        with transaction(self._sessions) as session:
            exposures = self.exposures(session, instances)
            by_account: dict[str, list[str]] = {}
            for instance in instances:
                by_account.setdefault(instance.account_id, []).append(instance.instance_id)
            changed = []
            for account, resources in sorted(by_account.items()):
                for start in range(0, len(resources), _ARNS_PER_QUERY):
                    statement = (
                        select(
                            FindingRow.arn,
                            FindingRow.resource_id,
                            FindingRow.exposure,
                            FindingRow.inspector_score,
                            FindingContentRow.digest,
                            FindingContentRow.body,
                        )
                        .join(FindingContentRow, FindingContentRow.digest == FindingRow.content)
                        .where(
                            FindingRow.account_id == account,
                            FindingRow.resource_id.in_(resources[start : start + _ARNS_PER_QUERY]),
                            FindingRow.finding_type == PACKAGE_VULNERABILITY,
                            FindingRow.status != CLOSED,
                        )
                    )
                    for row in session.execute(statement):
                        columns = _exposed(
                            Content(row.digest, row.body), exposures.get((account, row.resource_id))
                        )
                        if (
                            columns["exposure"] != row.exposure
                            or columns["inspector_score"] != row.inspector_score
                        ):
                            changed.append(
                                {
                                    "arn": row.arn,
                                    "exposure": columns["exposure"],
                                    "inspector_score": columns["inspector_score"],
                                    "updated_at": now,
                                }
                            )
            if changed:
                session.execute(update(FindingRow), changed)
        return len(changed)

    def observe_network(self, account_id: str, instance_ids: Collection[str], now: dt.datetime) -> None:
        """These instances' open network findings were found again as they are (`lastObservedAt` moves)."""
        ids = sorted(instance_ids)
        with transaction(self._sessions) as session:
            for start in range(0, len(ids), _ARNS_PER_QUERY):
                session.execute(
                    update(FindingRow)
                    .where(
                        FindingRow.account_id == account_id,
                        FindingRow.resource_id.in_(ids[start : start + _ARNS_PER_QUERY]),
                        FindingRow.finding_type == NETWORK_REACHABILITY,
                        FindingRow.status != CLOSED,
                    )
                    .values(last_observed_at=now)
                )

    def close_network(self, account_id: str, instance_ids: Collection[str], now: dt.datetime) -> int:
        """The network findings of these instances close (no network description covers them any more)."""
        closed = 0
        ids = sorted(instance_ids)
        with transaction(self._sessions) as session:
            for start in range(0, len(ids), _ARNS_PER_QUERY):
                which = (
                    (FindingRow.account_id == account_id)
                    & FindingRow.resource_id.in_(ids[start : start + _ARNS_PER_QUERY])
                    & (FindingRow.finding_type == NETWORK_REACHABILITY)
                )
                result = session.execute(
                    update(FindingRow)
                    .where(which, FindingRow.status != CLOSED)
                    .values(
                        status=CLOSED,
                        closed_at=now,
                        closed_reason=REMEDIATED,
                        updated_at=now,
                        purge_at=now + PURGE_REMEDIATED_AFTER,
                    )
                )
                closed += int(getattr(result, "rowcount", 0) or 0)
        return closed

    def close_instance(
        self, account_id: str, instance_id: str, now: dt.datetime, *, reason: str, packages_only: bool = False
    ) -> None:
        """Close the instance's findings (`packages_only`: its package findings; an instance that cannot be
        scanned for packages keeps its network findings)."""
        of_instance = (FindingRow.account_id == account_id) & (FindingRow.resource_id == instance_id)
        if packages_only:
            of_instance = of_instance & (FindingRow.finding_type == PACKAGE_VULNERABILITY)
        purge_at = now + PURGE_GONE_AFTER
        with transaction(self._sessions) as session:
            _close(session, of_instance, now, reason, PURGE_GONE_AFTER)
            session.execute(
                update(FindingRow)
                .where(of_instance, FindingRow.status == CLOSED, FindingRow.purge_at > purge_at)
                .values(purge_at=purge_at)
            )

    def purge(self, now: dt.datetime) -> int:
        with transaction(self._sessions) as session:
            result = session.execute(delete(FindingRow).where(FindingRow.purge_at <= now))
            deleted = getattr(result, "rowcount", 0)
            session.execute(
                delete(FindingResourceRow).where(
                    ~exists().where(
                        FindingRow.account_id == FindingResourceRow.account_id,
                        FindingRow.resource_id == FindingResourceRow.resource_id,
                    )
                )
            )
            drop_unused_contents(session)
            _refresh_statistics(session)
        return int(deleted or 0)


def _columns(
    arn: str, content: Content, resource: dict[str, Any], instance: Instance, exposure: Exposure | None
) -> dict[str, Any]:
    return {
        "arn": arn,
        "account_id": instance.account_id,
        "resource_id": instance.instance_id,
        "resource_type": resource["type"],
        **_exposed(content, exposure),
        "image_id": instance.image_id,
        "vpc_id": instance.vpc_id,
        "subnet_id": instance.subnet_id,
        "resource": resource,
    }


def _exposed(content: Content, exposure: Exposure | None) -> dict[str, Any]:
    """The content's columns, with what the instance's exposure changes in them (`exposure`)."""
    columns = content.columns()
    changed = overlay(content.body, exposure)
    columns["exposure"] = changed
    if changed and "inspectorScore" in changed:
        columns["inspector_score"] = changed["inspectorScore"]
    return columns


def _reopened_first(closed_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """A closed finding seen again keeps its `firstObservedAt` when it closed at most 7 days ago."""
    return None if closed_at is not None and now - closed_at <= REOPEN_WITHIN else now


def _differing(session: Session, instances: Sequence[Instance], expected: dict[str, str | None]) -> set[str]:
    """The vulnerabilities whose findings are not yet what `expected` says on every one of the instances:
    open with this content, or (None) closed or absent. Counted in the database, a group per vulnerability,
    content and state: the findings of instances holding the same inventory are alike, so an update that
    changes nothing reads no finding into Python."""
    keys = sorted({(i.account_id, i.instance_id) for i in instances})
    vulnerabilities = sorted(expected)
    differing: set[str] = set()
    closed = (FindingRow.status == CLOSED).label("closed")
    # one query per 500 instances whatever their accounts (an inventory's holders are in many accounts)
    for start in range(0, len(keys), _ARNS_PER_QUERY):
        chunk = keys[start : start + _ARNS_PER_QUERY]
        seen: dict[str, list[tuple[str, bool, int]]] = {}
        for first in range(0, len(vulnerabilities), _ARNS_PER_QUERY):
            statement = (
                select(FindingRow.vulnerability_id, FindingRow.content, closed, func.count())
                .where(
                    _of_instances(chunk),
                    FindingRow.vulnerability_id.in_(vulnerabilities[first : first + _ARNS_PER_QUERY]),
                )
                .group_by(FindingRow.vulnerability_id, FindingRow.content, closed)
            )
            for vulnerability, content, is_closed, count in session.execute(statement):
                seen.setdefault(vulnerability, []).append((content, bool(is_closed), count))
        for vulnerability, digest in expected.items():
            groups = seen.get(vulnerability, [])
            if digest is None:
                alike = all(is_closed for _, is_closed, _ in groups)
            else:
                alike = groups == [(digest, False, len(chunk))]
            if not alike:
                differing.add(vulnerability)
    return differing


def _of_instances(
    keys: Sequence[tuple[str, str]],
    account: Any = FindingRow.account_id,
    resource: Any = FindingRow.resource_id,
) -> ColumnElement[bool]:
    """The rows of these (account, instance) pairs: an OR per account, each of which SQLite and PostgreSQL
    answer from an (account, resource) index (a row-value IN made SQLite scan the table)."""
    by_account: dict[str, list[str]] = {}
    for account_id, instance_id in keys:
        by_account.setdefault(account_id, []).append(instance_id)
    return or_(*((account == a) & resource.in_(ids) for a, ids in sorted(by_account.items())))


_CONTENT_MEMBERS = tuple(
    f.name
    for f in dataclasses.fields(Finding)
    if f.name not in ("arn", "account_id", "resource_id", "platform", "observed_at", "status")
)  # what a finding's content is made of: not its names, its resource, nor its times and status


def _named(finding: Finding) -> dict[str, Any]:
    """The members of the finding's JSON that name it and its resource (as `Finding.to_json` gives them)."""
    platform = {"platform": clip(finding.platform, 1024)}
    resource = {"type": EC2_INSTANCE, "id": finding.resource_id, "details": {"awsEc2Instance": platform}}
    return {"findingArn": finding.arn, "resources": [resource]}


def _known_of(
    session: Session, instances: Sequence[Instance], finding_type: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stored finding of this type of these instances, by instance and ARN."""
    by_account: dict[str, list[str]] = {}
    for instance in instances:
        by_account.setdefault(instance.account_id, []).append(instance.instance_id)
    known: dict[tuple[str, str], dict[str, Any]] = {}
    for account, resources in sorted(by_account.items()):
        for start in range(0, len(resources), _ARNS_PER_QUERY):
            statement = select(
                FindingRow.resource_id, FindingRow.arn, FindingRow.status, FindingRow.closed_at,
                FindingRow.content, FindingRow.resource, FindingRow.exposure,
            ).where(
                FindingRow.account_id == account,
                FindingRow.resource_id.in_(resources[start : start + _ARNS_PER_QUERY]),
                FindingRow.finding_type == finding_type,
            )  # fmt: skip
            for row in session.execute(statement):
                known.setdefault((account, row.resource_id), {})[row.arn] = row
    return known


def _known(session: Session, arns: list[str]) -> dict[str, Any]:
    known: dict[str, Any] = {}
    for start in range(0, len(arns), _ARNS_PER_QUERY):
        statement = select(FindingRow.arn, FindingRow.status, FindingRow.closed_at, FindingRow.content).where(
            FindingRow.arn.in_(arns[start : start + _ARNS_PER_QUERY])
        )
        known.update((row.arn, row) for row in session.execute(statement))
    return known


def _renamed(document: dict[str, Any], instance: Instance) -> dict[str, Any]:
    """The first instance's resource entry, naming this instance."""
    (resource,) = document["resources"]
    return {**resource, "id": instance.instance_id}


def _opened(now: dt.datetime, *, first: dt.datetime | None) -> dict[str, Any]:
    """A finding observed open: ACTIVE until the suppression filters have looked at it."""
    opened = {"status": ACTIVE, "last_observed_at": now, "updated_at": now, "closed_at": None}
    opened |= {"closed_reason": None, "purge_at": None}
    return opened | ({"first_observed_at": first} if first else {})


STATISTICS_OF = ("findings", "finding_content_packages", "finding_resource_tags")


def _refresh_statistics(session: Session) -> None:
    """The planner's statistics, after the hour's changes: without true ones SQLite picks the wrong index for
    an administrator's severity + resource page (measured over 1,000,000 findings of 10 accounts: 1.3 s with
    sampled statistics, 3 ms with these; the whole ANALYZE took 0.7 s)."""
    for table in STATISTICS_OF:
        session.execute(text(f"ANALYZE {table}"))


def _close(session: Session, which: Any, now: dt.datetime, reason: str, purge_after: dt.timedelta) -> None:
    session.execute(
        update(FindingRow)
        .where(which, FindingRow.status != CLOSED)
        .values(
            status=CLOSED,
            closed_at=now,
            closed_reason=reason[:64],
            updated_at=now,
            purge_at=now + purge_after,
        )
    )


def _save_resources(session: Session, prepared: Sequence[Prepared], now: dt.datetime) -> None:
    """The instances as last recorded (tags, image, evaluated platform), their rows locked in key order for
    this recording: a few statements for the whole batch, not four per instance."""
    table: Any = FindingResourceRow.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    keys = [{"account_id": i.account_id, "resource_id": i.instance_id} for i, _, _ in prepared]
    session.connection().execute(
        dialect.insert(table).on_conflict_do_nothing(),
        [
            key
            | {"image_id": i.image_id, "tags": dict(i.tags), "platform": platform or i.platform.value}
            | {"recorded_at": now}
            for key, (i, _, platform) in zip(keys, prepared, strict=True)
        ],
    )
    # a network analysis evaluates no platform: the one recorded stays
    evaluated: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for key, (instance, _, platform) in zip(keys, prepared, strict=True):
        values = key | {"image_id": instance.image_id, "tags": dict(instance.tags), "recorded_at": now}
        (evaluated if platform else kept).append(values | ({"platform": platform} if platform else {}))
    for rows in (evaluated, kept):
        if rows:
            session.execute(update(FindingResourceRow), rows)
    pairs = [(k["account_id"], k["resource_id"]) for k in keys]
    for first in range(0, len(pairs), _ARNS_PER_QUERY):
        chunk = pairs[first : first + _ARNS_PER_QUERY]
        session.execute(
            delete(FindingResourceTagRow).where(
                _of_instances(chunk, FindingResourceTagRow.account_id, FindingResourceTagRow.resource_id)
            )
        )
    tags = [
        key | {"key": k, "value": v}
        for key, (instance, _, _) in zip(keys, prepared, strict=True)
        for k, v in instance.tags.items()
    ]
    if tags:
        session.execute(insert(FindingResourceTagRow), tags)
