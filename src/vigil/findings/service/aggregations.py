"""`ListFindingAggregations`: counts of ACTIVE findings by severity, grouped as the aggregation type says.

Each supported type declares its group (the columns it counts by), the filters of its request structure, its
sort keys and how a group becomes the model's response structure. Types about resources Vigil does not have
(container images and repositories, Lambda functions and layers, code repositories, other clouds) have no
groups: their answer is empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, select, true
from sqlalchemy.orm import Session

from vigil.enums import Severity
from vigil.findings.service.criteria import in_accounts, parse_criteria, string_condition, where
from vigil.findings.service.errors import InvalidRequest
from vigil.findings.service.suppression import ACTIVE
from vigil.store.findings import FindingPackageRow, FindingResourceRow, FindingRow

AMI_ID = re.compile(r"ami-([a-z0-9]{8}|[a-z0-9]{17}|\*)")
SEVERITY_COUNTS = {s.value.lower(): s.rank for s in Severity}
NETWORK_REACHABILITY = "NETWORK_REACHABILITY"

REQUEST_MEMBERS = {
    "ACCOUNT": "accountAggregation",
    "AMI": "amiAggregation",
    "AWS_EC2_INSTANCE": "ec2InstanceAggregation",
    "FINDING_TYPE": "findingTypeAggregation",
    "PACKAGE": "packageAggregation",
    "TITLE": "titleAggregation",
    "REPOSITORY": "repositoryAggregation",
    "AWS_ECR_CONTAINER": "awsEcrContainerAggregation",
    "IMAGE_LAYER": "imageLayerAggregation",
    "AWS_LAMBDA_FUNCTION": "lambdaFunctionAggregation",
    "LAMBDA_LAYER": "lambdaLayerAggregation",
    "CODE_REPOSITORY": "codeRepositoryAggregation",
    "VM_INSTANCE": "vmInstanceAggregation",
    "CONTAINER_IMAGE": "containerImageAggregation",
    "SERVERLESS_FUNCTION": "serverlessFunctionAggregation",
}


@dataclass(frozen=True, slots=True)
class Grouping:
    """One aggregation type: what it groups by, the filters its request may carry, how a group answers."""

    keys: tuple[Any, ...]  # labelled column expressions
    filters: Mapping[str, str]  # request member -> FilterCriteria member (or an own compiler's name)
    sorts: Mapping[str, str]  # sortBy -> counted column label
    answer: Callable[[Any], dict[str, Any] | None]  # None: a group the model cannot express
    packages: bool = False  # counts per vulnerable package
    instances: bool = False  # groups are instances: their description comes from the resources table


def _counts(row: Any) -> dict[str, int]:
    return {name: int(getattr(row, name)) for name in ("all", *SEVERITY_COUNTS)}


def _present(**members: Any) -> dict[str, Any]:
    return {k: v for k, v in members.items() if v not in (None, "", {})}


def _account(row: Any) -> dict[str, Any]:
    counts = {"exploitAvailableCount": int(row.exploits), "fixAvailableCount": int(row.fixes)}
    return {"accountId": row.account_id, "severityCounts": _counts(row), **counts}


def _ami(row: Any) -> dict[str, Any] | None:
    if not AMI_ID.fullmatch(row.image_id):
        return None
    return {
        "ami": row.image_id,
        "accountId": row.account_id,
        "severityCounts": _counts(row),
        "affectedInstances": int(row.instances),
    }


def _instance(row: Any) -> dict[str, Any]:
    ami, platform, tags = row.described
    return _present(
        instanceId=row.resource_id,
        ami=ami if ami and AMI_ID.fullmatch(ami) else None,
        operatingSystem=platform,
        instanceTags=tags or None,
        accountId=row.account_id,
        severityCounts=_counts(row),
        networkFindings=int(row.network),
    )


def _package(row: Any) -> dict[str, Any]:
    return {"packageName": row.package, "accountId": row.account_id, "severityCounts": _counts(row)}


def _title(row: Any) -> dict[str, Any]:
    return _present(
        title=row.title,
        vulnerabilityId=row.vulnerability_id,
        accountId=row.account_id,
        severityCounts=_counts(row),
    )


_SEVERITY_SORTS = {"CRITICAL": "critical", "HIGH": "high", "ALL": "all"}
_TYPE_FILTERS = {"findingType": "findingType", "resourceType": "resourceType"}
GROUPINGS: dict[str, Grouping] = {
    "ACCOUNT": Grouping((FindingRow.account_id,), _TYPE_FILTERS, _SEVERITY_SORTS, _account),
    "FINDING_TYPE": Grouping((FindingRow.account_id,), _TYPE_FILTERS, _SEVERITY_SORTS, _account),
    "AMI": Grouping(
        (FindingRow.image_id, FindingRow.account_id),
        {"amis": "ec2InstanceImageId"},
        _SEVERITY_SORTS | {"AFFECTED_INSTANCES": "instances"},
        _ami,
    ),
    "AWS_EC2_INSTANCE": Grouping(
        (FindingRow.resource_id, FindingRow.account_id),
        {
            "amis": "ec2InstanceImageId",
            "operatingSystems": "operatingSystem",
            "instanceIds": "resourceId",
            "instanceTags": "resourceTags",
        },
        _SEVERITY_SORTS | {"NETWORK_FINDINGS": "network"},
        _instance,
        instances=True,
    ),
    "PACKAGE": Grouping(
        (FindingPackageRow.name.label("package"), FindingRow.account_id),
        {"packageNames": "packageName"},
        _SEVERITY_SORTS,
        _package,
        packages=True,
    ),
    "TITLE": Grouping(
        (FindingRow.title, FindingRow.vulnerability_id, FindingRow.account_id),
        {"titles": "title", "vulnerabilityIds": "vulnerabilityId", **_TYPE_FILTERS},
        _SEVERITY_SORTS,
        _title,
    ),
}


def aggregate(
    session: Session, accounts: Collection[str], request: Mapping[str, Any], offset: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """One page of the aggregation's groups, and whether more follow."""
    kind = request.get("aggregationType")
    if kind not in REQUEST_MEMBERS:
        raise InvalidRequest("aggregationType", f"one of {', '.join(REQUEST_MEMBERS)}")
    options = _options(kind, request.get("aggregationRequest"))
    grouping = GROUPINGS.get(kind)
    if grouping is None:
        return [], False
    statement = _grouped(grouping, accounts, request, options)
    rows: list[Any] = list(session.execute(statement.offset(offset).limit(limit + 1)).all())
    if grouping.instances:
        rows = _described(session, rows)
    member = REQUEST_MEMBERS[kind]  # the response names its structure as the request does
    answers = [{member: a} for a in map(grouping.answer, rows[:limit]) if a is not None]
    return answers, len(rows) > limit


def _options(kind: str, aggregation_request: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not aggregation_request:
        return {}
    expected = REQUEST_MEMBERS[kind]
    if set(aggregation_request) != {expected}:
        raise InvalidRequest("aggregationRequest", f"a {kind} aggregation takes {expected} alone")
    options = aggregation_request[expected]
    if not isinstance(options, Mapping):
        raise InvalidRequest(f"aggregationRequest.{expected}", "not a structure")
    return options


def _grouped(
    grouping: Grouping, accounts: Collection[str], request: Mapping[str, Any], options: Mapping[str, Any]
) -> Select[Any]:
    rank = FindingRow.severity_rank
    counted = [func.count().label("all")]
    counted += [func.sum(case((rank == r, 1), else_=0)).label(name) for name, r in SEVERITY_COUNTS.items()]
    counted += [
        func.sum(case((FindingRow.exploit_available == "YES", 1), else_=0)).label("exploits"),
        func.sum(case((FindingRow.fix_available == "YES", 1), else_=0)).label("fixes"),
        func.count(FindingRow.resource_id.distinct()).label("instances"),
        func.sum(case((FindingRow.finding_type == NETWORK_REACHABILITY, 1), else_=0)).label("network"),
    ]
    keys = grouping.keys
    own: dict[str, Any] = {"operatingSystem": FindingResourceRow.platform}
    statement = select(FindingRow.account_id).select_from(FindingRow)
    if grouping.packages:  # one count per finding and package name, however many of its packages share it
        packages = select(FindingPackageRow.content, FindingPackageRow.name).distinct().subquery()
        statement = statement.join(packages, packages.c.content == FindingRow.content)
        own["packageName"] = packages.c.name
        keys = (packages.c.name.label("package"), *keys[1:])
    if "operatingSystems" in options or any(
        getattr(k, "table", None) is FindingResourceRow.__table__ for k in keys
    ):
        statement = statement.outerjoin(
            FindingResourceRow,
            and_(
                FindingResourceRow.account_id == FindingRow.account_id,
                FindingResourceRow.resource_id == FindingRow.resource_id,
            ),
        )
    accounts_asked = request.get("accountIds")
    statement = (
        statement.with_only_columns(*keys, *counted)
        .where(
            in_accounts(accounts),
            FindingRow.status == ACTIVE,
            where(parse_criteria({"awsAccountId": accounts_asked}, "accountIds"))
            if accounts_asked
            else true(),
            keys[0].is_not(None),
            *_filters(grouping, options, own),
        )
        .group_by(*keys)
    )
    sort_by, order = options.get("sortBy", "ALL"), options.get("sortOrder", "DESC")
    if sort_by not in grouping.sorts:
        raise InvalidRequest("aggregationRequest.sortBy", f"one of {', '.join(grouping.sorts)}")
    if order not in ("ASC", "DESC"):
        raise InvalidRequest("aggregationRequest.sortOrder", "ASC or DESC")
    counted_by = next(c for c in counted if c.name == grouping.sorts[sort_by])
    return statement.order_by(counted_by.desc() if order == "DESC" else counted_by.asc(), *keys[:3])


@dataclass(frozen=True, slots=True)
class _Described:
    """An instance's group with the instance as last recorded: (image, platform, tags)."""

    group: Any
    described: tuple[Any, Any, Any]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.group, name)


def _described(session: Session, rows: list[Any]) -> list[Any]:
    keys = {(r.account_id, r.resource_id) for r in rows}
    resource = FindingResourceRow
    statement = select(
        resource.account_id, resource.resource_id, resource.image_id, resource.platform, resource.tags
    ).where(resource.account_id.in_({a for a, _ in keys}), resource.resource_id.in_({i for _, i in keys}))
    found = {
        (r.account_id, r.resource_id): (r.image_id, r.platform, r.tags) for r in session.execute(statement)
    }
    return [_Described(r, found.get((r.account_id, r.resource_id), (None, None, None))) for r in rows]


def _filters(grouping: Grouping, options: Mapping[str, Any], own: Mapping[str, Any]) -> list[Any]:
    """The request structure's filters: those on the finding's own members compile as FilterCriteria do."""
    found = []
    for member, value in options.items():
        if member in ("sortBy", "sortOrder"):
            continue
        target = grouping.filters.get(member)
        path = f"aggregationRequest.{member}"
        if target is None:
            raise InvalidRequest(path, "not a filter Vigil's findings can answer")
        if target in ("findingType", "resourceType"):  # one value here, a list of filters in FilterCriteria
            value = [{"comparison": "EQUALS", "value": value}]
        if target in own:
            found.append(string_condition(own[target], parse_criteria({"title": value}, path)))
        else:
            found.append(where(parse_criteria({target: value}, path)))
    return found
