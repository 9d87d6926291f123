"""Inspector's `FilterCriteria`, read once and compiled to SQL over the findings store.

Every member of the model's `FilterCriteria` is known here (`MEMBERS`). Those that describe EC2 package
findings, and network findings' protocol, open port range (`portRange`: the ranges meet) and path components
(`componentId`, `componentType`: any step of the path), are compiled to their columns; the others (ECR
images, Lambda functions, code repositories, other clouds) are compared as absent: `EQUALS` and `PREFIX`
match nothing, `NOT_EQUALS` everything, and a range matches nothing.

Inspector combines the filters of one member this way: its `EQUALS` and `PREFIX` filters any of which may
match, and its `NOT_EQUALS` filters all of which must; ranges and tag filters any of which may match. The
members combine with AND. The same compiled condition serves `ListFindings`, reports and suppression.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from vigil.enums import Severity
from vigil.findings.service.errors import InvalidRequest
from vigil.store.findings import (
    FindingComponentRow,
    FindingPackageRow,
    FindingRelatedRow,
    FindingResourceTagRow,
    FindingRow,
)


class Kind(enum.Enum):
    STRING = "StringFilter"
    DATE = "DateFilter"
    NUMBER = "NumberFilter"
    MAP = "MapFilter"
    PACKAGE = "PackageFilter"
    PORT = "PortRangeFilter"


_STRING_MEMBERS = """
    findingArn awsAccountId findingType severity findingStatus title resourceType resourceId
    ec2InstanceImageId ec2InstanceVpcId ec2InstanceSubnetId ecrImageArchitecture ecrImageRegistry
    ecrImageRepositoryName
    ecrImageTags ecrImageHash networkProtocol componentId componentType vulnerabilityId vulnerabilitySource
    vendorSeverity relatedVulnerabilities fixAvailable lambdaFunctionName lambdaFunctionLayers
    lambdaFunctionRuntime lambdaFunctionExecutionRoleArn exploitAvailable codeVulnerabilityDetectorName
    codeVulnerabilityDetectorTags codeVulnerabilityFilePath codeRepositoryProjectName
    codeRepositoryProviderType
    machineImageId machineImageName machineImageOwnerAccountId machineImagePlatform cloudProvider
    cloudProviderRegion cloudProviderAccountId cloudProviderOrgId cloudVmImageReference cloudVmNetworkId
    cloudVmSubnetIds cloudImageRepositoryName cloudImageRegistry cloudImageDigest cloudImageTags
    cloudImageArchitecture cloudServerlessFunctionName cloudServerlessFunctionRuntime
    cloudServerlessFunctionExecutionRole
"""
_DATE_MEMBERS = """
    firstObservedAt lastObservedAt updatedAt ecrImagePushedAt ecrImageLastInUseAt lambdaFunctionLastModifiedAt
    cloudImagePushedAt cloudImageLastInUseAt cloudServerlessFunctionLastModifiedAt
"""
_NUMBER_MEMBERS = "inspectorScore ecrImageInUseCount epssScore cloudImageInUseCount"
MEMBERS: dict[str, Kind] = {
    **dict.fromkeys(_STRING_MEMBERS.split(), Kind.STRING),
    **dict.fromkeys(_DATE_MEMBERS.split(), Kind.DATE),
    **dict.fromkeys(_NUMBER_MEMBERS.split(), Kind.NUMBER),
    "resourceTags": Kind.MAP,
    "vulnerablePackages": Kind.PACKAGE,
    "portRange": Kind.PORT,
}

COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "findingArn": FindingRow.arn,
    "awsAccountId": FindingRow.account_id,
    "findingType": FindingRow.finding_type,
    "findingStatus": FindingRow.status,
    "title": FindingRow.title,
    "resourceType": FindingRow.resource_type,
    "resourceId": FindingRow.resource_id,
    "ec2InstanceImageId": FindingRow.image_id,
    "ec2InstanceVpcId": FindingRow.vpc_id,
    "ec2InstanceSubnetId": FindingRow.subnet_id,
    "vulnerabilityId": FindingRow.vulnerability_id,
    "vulnerabilitySource": FindingRow.vulnerability_source,
    "vendorSeverity": FindingRow.vendor_severity,
    "fixAvailable": FindingRow.fix_available,
    "exploitAvailable": FindingRow.exploit_available,
    "firstObservedAt": FindingRow.first_observed_at,
    "lastObservedAt": FindingRow.last_observed_at,
    "updatedAt": FindingRow.updated_at,
    "inspectorScore": FindingRow.inspector_score,
    "epssScore": FindingRow.epss_score,
    "networkProtocol": FindingRow.network_protocol,
}
"""The members compiled to a column of the finding; `severity`, `relatedVulnerabilities`, `resourceTags` and
`vulnerablePackages` have their own compilers; every other member is absent from Vigil's findings."""

PACKAGE_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "name": FindingPackageRow.name,
    "version": FindingPackageRow.version,
    "release": FindingPackageRow.release,
    "architecture": FindingPackageRow.arch,
    "filePath": FindingPackageRow.file_path,
}
PACKAGE_MEMBERS = (
    *PACKAGE_COLUMNS,
    "epoch",
    "sourceLayerHash",
    "sourceLambdaLayerArn",
    "runtimeReachability",
    "runtimeReachabilityReason",
    "purlQualifier",
)
STRING_COMPARISONS = ("EQUALS", "PREFIX", "NOT_EQUALS")
MAX_FILTERS = 10  # per member, as the model allows
MAX_STRING = 1024


@dataclass(frozen=True, slots=True)
class StringTerm:
    comparison: str  # EQUALS | PREFIX | NOT_EQUALS
    value: str


@dataclass(frozen=True, slots=True)
class RangeTerm:
    low: Any = None  # float, int or aware datetime; None: unbounded
    high: Any = None


@dataclass(frozen=True, slots=True)
class TagTerm:
    key: str
    value: str | None  # None: the key is present, whatever its value


@dataclass(frozen=True, slots=True)
class PackageTerm:
    strings: tuple[tuple[str, StringTerm], ...]
    epoch: RangeTerm | None
    absent: tuple[tuple[str, str], ...]  # members Vigil's packages lack, with their comparison


Term = StringTerm | RangeTerm | TagTerm | PackageTerm


@dataclass(frozen=True, slots=True)
class Criteria:
    """Checked criteria: `terms` to compile, `document` the JSON form to store and give back."""

    terms: tuple[tuple[str, tuple[Term, ...]], ...]
    document: dict[str, Any]

    @property
    def empty(self) -> bool:
        return not self.terms


NO_CRITERIA = Criteria((), {})


def parse_criteria(document: Mapping[str, Any] | None, member: str = "filterCriteria") -> Criteria:
    """Read a `FilterCriteria`: every member known, each filter of the model's form (else InvalidRequest)."""
    if document is None:
        return NO_CRITERIA
    if not isinstance(document, Mapping):
        raise InvalidRequest(member, "not a FilterCriteria structure")
    terms: list[tuple[str, tuple[Term, ...]]] = []
    normal: dict[str, Any] = {}
    for name, items in sorted(document.items()):
        kind = MEMBERS.get(name)
        path = f"{member}.{name}"
        if kind is None:
            raise InvalidRequest(path, "not a member of FilterCriteria")
        if not isinstance(items, Sequence) or isinstance(items, str) or not 1 <= len(items) <= MAX_FILTERS:
            raise InvalidRequest(path, f"a list of 1 to {MAX_FILTERS} {kind.value}s")
        parsed = tuple(_PARSERS[kind](item, f"{path}[{i}]") for i, item in enumerate(items))
        terms.append((name, tuple(term for term, _ in parsed)))
        normal[name] = [doc for _, doc in parsed]
    return Criteria(tuple(terms), normal)


def _structure(item: Any, path: str, members: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidRequest(path, "not a structure")
    unknown = sorted(set(item) - set(members))
    if unknown:
        raise InvalidRequest(f"{path}.{unknown[0]}", "not a member")
    return item


def _string(item: Any, path: str, comparisons: Sequence[str] = STRING_COMPARISONS) -> tuple[Term, Any]:
    item = _structure(item, path, ("comparison", "value"))
    comparison, value = item.get("comparison"), item.get("value")
    if comparison not in comparisons:
        raise InvalidRequest(f"{path}.comparison", f"one of {', '.join(comparisons)}")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_STRING:
        raise InvalidRequest(f"{path}.value", f"a string of 1 to {MAX_STRING} characters")
    return StringTerm(comparison, value), {"comparison": comparison, "value": value}


def _moment(value: Any, path: str) -> dt.datetime:
    """A timestamp as boto3 sends it (epoch seconds) or as a parsed request holds it (datetime, ISO 8601)."""
    try:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str):
            try:
                return dt.datetime.fromtimestamp(float(value), dt.UTC)
            except ValueError:
                return _moment(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), path)
    except (ValueError, OverflowError, OSError):
        pass
    raise InvalidRequest(path, "not a timestamp (epoch seconds or ISO 8601)")


def _epoch(moment: dt.datetime) -> int | float:
    seconds = moment.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(path, "not a number")
    return float(value)


def _range(
    item: Any, path: str, names: tuple[str, str], read: Callable[[Any, str], Any], write: Callable[[Any], Any]
) -> tuple[Term, Any]:
    item = _structure(item, path, names)
    low, high = (read(item[n], f"{path}.{n}") if n in item else None for n in names)
    return RangeTerm(low, high), {
        n: write(v) for n, v in zip(names, (low, high), strict=True) if v is not None
    }


def _date(item: Any, path: str) -> tuple[Term, Any]:
    return _range(item, path, ("startInclusive", "endInclusive"), _moment, _epoch)


def _number_range(item: Any, path: str) -> tuple[Term, Any]:
    return _range(item, path, ("lowerInclusive", "upperInclusive"), _number, lambda v: v)


def _port(item: Any, path: str) -> tuple[Term, Any]:
    def port(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise InvalidRequest(where, "a port from 0 to 65535")
        return value

    return _range(item, path, ("beginInclusive", "endInclusive"), port, lambda v: v)


def _tag(item: Any, path: str) -> tuple[Term, Any]:
    item = _structure(item, path, ("comparison", "key", "value"))
    key, value = item.get("key"), item.get("value")
    if item.get("comparison") != "EQUALS":
        raise InvalidRequest(f"{path}.comparison", "EQUALS")
    if not isinstance(key, str) or not 1 <= len(key) <= 128:
        raise InvalidRequest(f"{path}.key", "a string of 1 to 128 characters")
    if value is not None and (not isinstance(value, str) or len(value) > 256):
        raise InvalidRequest(f"{path}.value", "a string of at most 256 characters")
    document = {"comparison": "EQUALS", "key": key} | ({} if value is None else {"value": value})
    return TagTerm(key, value), document


def _package(item: Any, path: str) -> tuple[Term, Any]:
    item = _structure(item, path, PACKAGE_MEMBERS)
    strings, absent, document = [], [], {}
    epoch: RangeTerm | None = None
    for name, sub in sorted(item.items()):
        where = f"{path}.{name}"
        if name in PACKAGE_COLUMNS:
            term, document[name] = _string(sub, where)
            assert isinstance(term, StringTerm)
            strings.append((name, term))
        elif name == "epoch":
            parsed, document[name] = _number_range(sub, where)
            assert isinstance(parsed, RangeTerm)
            epoch = parsed
        else:  # what Vigil's packages do not have (container layers, Lambda layers, runtime observations)
            sub = _structure(sub, where, ("comparison", "key", "value"))
            comparison = sub.get("comparison")
            if not isinstance(comparison, str):
                raise InvalidRequest(f"{where}.comparison", "missing")
            absent.append((name, comparison))
            document[name] = dict(sub)
    return PackageTerm(tuple(strings), epoch, tuple(absent)), document


_PARSERS: dict[Kind, Callable[[Any, str], tuple[Term, Any]]] = {
    Kind.STRING: _string,
    Kind.DATE: _date,
    Kind.NUMBER: _number_range,
    Kind.MAP: _tag,
    Kind.PACKAGE: _package,
    Kind.PORT: _port,
}


# --- compiling to SQL ---------------------------------------------------------------------------------


def in_accounts(accounts: Collection[str]) -> ColumnElement[bool]:
    """The findings of these accounts (a caller's visible ones)."""
    ordered = sorted(accounts)
    return FindingRow.account_id == ordered[0] if len(ordered) == 1 else FindingRow.account_id.in_(ordered)


def where(criteria: Criteria) -> ColumnElement[bool]:
    """The condition on `FindingRow` that selects the findings the criteria describe."""
    return and_(true(), *(_member(name, terms) for name, terms in criteria.terms))


def _member(name: str, terms: tuple[Term, ...]) -> ColumnElement[bool]:
    kind = MEMBERS[name]
    if kind is Kind.STRING:
        compile_one = _STRING_COMPILERS.get(name) or _column_string(COLUMNS.get(name))
        return _strings([t for t in terms if isinstance(t, StringTerm)], compile_one)
    if kind is Kind.PORT:
        return or_(*(_open_ports(t) for t in terms if isinstance(t, RangeTerm)))
    if kind in (Kind.DATE, Kind.NUMBER):
        column = COLUMNS.get(name)
        return or_(*(_in_range(column, t) for t in terms if isinstance(t, RangeTerm)))
    if kind is Kind.MAP:
        return or_(*(_tagged(t) for t in terms if isinstance(t, TagTerm)))
    return or_(*(_has_package(t) for t in terms if isinstance(t, PackageTerm)))


def _open_ports(term: RangeTerm) -> ColumnElement[bool]:
    """A network finding whose open port range meets the filter's (a package finding has none)."""
    parts = [FindingRow.open_port_begin.is_not(None)]
    if term.high is not None:
        parts.append(FindingRow.open_port_begin <= term.high)
    if term.low is not None:
        parts.append(FindingRow.open_port_end >= term.low)
    return and_(*parts)


def string_condition(column: Any, criteria: Criteria) -> ColumnElement[bool]:
    """The string filters of the criteria's one member, applied to another column (a package name, an OS)."""
    ((_, terms),) = criteria.terms
    return _strings([t for t in terms if isinstance(t, StringTerm)], _column_string(column))


def _strings(
    terms: list[StringTerm], compile_one: Callable[[StringTerm], ColumnElement[bool]]
) -> ColumnElement[bool]:
    positive = [compile_one(t) for t in terms if t.comparison != "NOT_EQUALS"]
    negative = [compile_one(t) for t in terms if t.comparison == "NOT_EQUALS"]
    return and_(or_(*positive) if positive else true(), *negative)


def _column_string(column: Any) -> Callable[[StringTerm], ColumnElement[bool]]:
    def compile_one(term: StringTerm) -> ColumnElement[bool]:
        if column is None:  # absent: equal to nothing, different from everything
            return true() if term.comparison == "NOT_EQUALS" else false()
        if term.comparison == "EQUALS":
            equal: ColumnElement[bool] = column == term.value
            return equal
        if term.comparison == "PREFIX":
            return func.substr(column, 1, len(term.value)) == term.value
        nullable = getattr(column, "nullable", True)
        return or_(column.is_(None), column != term.value) if nullable else column != term.value

    return compile_one


def _severity(term: StringTerm) -> ColumnElement[bool]:
    """Severities are an enum kept as its rank: a comparison on the name becomes one on the rank."""
    if term.comparison == "PREFIX":
        ranks = [s.rank for s in Severity if s.value.startswith(term.value)]
        return FindingRow.severity_rank.in_(ranks) if ranks else false()
    known = term.value in Severity.__members__
    if term.comparison == "EQUALS":
        return FindingRow.severity_rank == Severity(term.value).rank if known else false()
    return FindingRow.severity_rank != Severity(term.value).rank if known else true()


def _related(term: StringTerm) -> ColumnElement[bool]:
    """Any related vulnerability equal to (or starting with) the value; none equal to it for NOT_EQUALS."""
    column = FindingRelatedRow.vulnerability_id
    match = func.substr(column, 1, len(term.value)) == term.value if term.comparison == "PREFIX" else None
    related = exists().where(
        FindingRelatedRow.content == FindingRow.content, match if match is not None else column == term.value
    )
    return ~related if term.comparison == "NOT_EQUALS" else related


def _component(column: Any) -> Callable[[StringTerm], ColumnElement[bool]]:
    """A step of the finding's network path equal to (or starting with) the value; for NOT_EQUALS, none
    (a package finding has no path: it matches NOT_EQUALS only)."""

    def compile_one(term: StringTerm) -> ColumnElement[bool]:
        prefix = term.comparison == "PREFIX"
        match = func.substr(column, 1, len(term.value)) == term.value if prefix else column == term.value
        step = exists().where(FindingComponentRow.content == FindingRow.content, match)
        return ~step if term.comparison == "NOT_EQUALS" else step

    return compile_one


_STRING_COMPILERS: dict[str, Callable[[StringTerm], ColumnElement[bool]]] = {
    "severity": _severity,
    "relatedVulnerabilities": _related,
    "componentId": _component(FindingComponentRow.component_id),
    "componentType": _component(FindingComponentRow.component_type),
}


def _in_range(column: Any, term: RangeTerm) -> ColumnElement[bool]:
    if column is None:
        return false()
    bounds = [column >= term.low] if term.low is not None else []
    bounds += [column <= term.high] if term.high is not None else []
    return and_(column.is_not(None), *bounds)


def _tagged(term: TagTerm) -> ColumnElement[bool]:
    tag = FindingResourceTagRow
    value = [tag.value == term.value] if term.value is not None else []
    return exists().where(
        tag.account_id == FindingRow.account_id,
        tag.resource_id == FindingRow.resource_id,
        tag.key == term.key,
        *value,
    )


def _has_package(term: PackageTerm) -> ColumnElement[bool]:
    """One vulnerable package of the finding matches every part of the filter."""
    package = FindingPackageRow
    parts = [_strings([t], _column_string(PACKAGE_COLUMNS[n])) for n, t in term.strings]
    if term.epoch is not None:
        parts.append(_in_range(package.epoch, term.epoch))
    parts += [true() if comparison == "NOT_EQUALS" else false() for _, comparison in term.absent]
    return exists(select(package.content).where(package.content == FindingRow.content, *parts))
