"""Reading findings: `ListFindings` pages, `BatchGetFindingDetails`, and the batches reports are written from.

Pages are cut by keyset (the sort value and the ARN of the last finding given), so a page costs the same at
any depth and findings recorded meanwhile neither repeat nor shift the pages after them. A caller reads only
the findings of the accounts it may see, whatever the filters and the token say.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from vigil.findings.model import epoch
from vigil.findings.service.aggregations import aggregate
from vigil.findings.service.contents import finding_document
from vigil.findings.service.criteria import Criteria, in_accounts, parse_criteria, where
from vigil.findings.service.errors import InvalidRequest
from vigil.findings.service.tokens import PageTokens
from vigil.store.findings import FindingContentRow, FindingRow

FINDING_ARN = re.compile(
    r"arn:(aws[a-zA-Z-]*)?:inspector2:[a-z]{2}(-gov)?-[a-z]+-\d{1}:(\d{12}):finding/[a-f0-9]{32}"
)
MAX_PAGE = 100  # what maxResults may ask for
FINDINGS_PER_RESPONSE = 25  # the model's FindingList holds at most 25: a larger maxResults gets pages of 25
NOT_SCORED = -1.0  # sorts a finding without a score below every score


class Requester(Protocol):
    """Who asks (the API's `Caller`): the account and the accounts whose findings it may read."""

    @property
    def account_id(self) -> str: ...

    @property
    def visible(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class SortKey:
    expression: Any  # None: every finding sorts the same on this field (only the ARN orders them)
    kind: type  # what the key's values are: str, int, float or datetime


SORT_FIELDS: dict[str, SortKey] = {
    "AWS_ACCOUNT_ID": SortKey(FindingRow.account_id, str),
    "FINDING_TYPE": SortKey(FindingRow.finding_type, str),
    "SEVERITY": SortKey(FindingRow.severity_rank, int),
    "FIRST_OBSERVED_AT": SortKey(FindingRow.first_observed_at, dt.datetime),
    "LAST_OBSERVED_AT": SortKey(FindingRow.last_observed_at, dt.datetime),
    "FINDING_STATUS": SortKey(FindingRow.status, str),
    "RESOURCE_TYPE": SortKey(FindingRow.resource_type, str),
    "VULNERABILITY_ID": SortKey(FindingRow.vulnerability_id, str),
    "VULNERABILITY_SOURCE": SortKey(func.coalesce(FindingRow.vulnerability_source, ""), str),
    "INSPECTOR_SCORE": SortKey(func.coalesce(FindingRow.inspector_score, NOT_SCORED), float),
    "VENDOR_SEVERITY": SortKey(func.coalesce(FindingRow.vendor_severity, ""), str),
    "EPSS_SCORE": SortKey(func.coalesce(FindingRow.epss_score, NOT_SCORED), float),
    "NETWORK_PROTOCOL": SortKey(func.coalesce(FindingRow.network_protocol, ""), str),
    # attributes of container images and of a path's components, which no finding row holds
    **dict.fromkeys(
        [
            "ECR_IMAGE_PUSHED_AT",
            "ECR_IMAGE_REPOSITORY_NAME",
            "ECR_IMAGE_REGISTRY",
            "COMPONENT_TYPE",
        ],
        SortKey(None, str),
    ),
}
DEFAULT_SORT = {"field": "SEVERITY", "sortOrder": "DESC"}  # the worst first, as Inspector's console shows


def finding_json(row: Any) -> dict[str, Any]:
    """The finding as the API gives it: its content, named for its resource, with its status and times."""
    return {
        **finding_document(row.body, row.arn, row.account_id, row.resource),
        **(row.exposure or {}),  # what the instance's exposure changes in the shared content
        "status": row.status,
        "firstObservedAt": epoch(row.first_observed_at),
        "lastObservedAt": epoch(row.last_observed_at),
        "updatedAt": epoch(row.updated_at),
    }


FINDING_COLUMNS = (
    FindingRow.arn,
    FindingRow.status,
    FindingRow.first_observed_at,
    FindingRow.last_observed_at,
    FindingRow.updated_at,
    FindingRow.account_id,
    FindingRow.resource,
    FindingRow.exposure,
    FindingContentRow.body,
)


def select_findings() -> Select[Any]:
    """The findings' rows with their contents."""
    return select(*FINDING_COLUMNS).join_from(
        FindingRow, FindingContentRow, FindingContentRow.digest == FindingRow.content
    )


def page_size(request: Mapping[str, Any], default: int = MAX_PAGE) -> int:
    size = request.get("maxResults", default)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE:
        raise InvalidRequest("maxResults", f"from 1 to {MAX_PAGE}")
    return size


class FindingsQueries:
    """`ListFindings` and `BatchGetFindingDetails` over the store."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: PageTokens,
        *,
        page_limit: int = FINDINGS_PER_RESPONSE,  # the benchmark measures pages of 100 too
    ) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._page_limit = page_limit

    def list_findings(self, requester: Requester, request: Mapping[str, Any]) -> Page:
        criteria = parse_criteria(request.get("filterCriteria"))
        key, descending = _sort(request.get("sortCriteria"))
        size = min(page_size(request), self._page_limit)
        position = self._tokens.read("ListFindings", requester.account_id, request)
        statement = _ordered(select_findings(), key, descending).where(
            in_accounts(requester.visible), where(criteria)
        )
        if position is not None:
            statement = statement.where(_after(key, descending, position))
        with self._sessions() as session:
            rows = session.execute(statement.limit(size + 1)).all()
        token = None
        if len(rows) > size:
            rows = rows[:size]
            token = self._tokens.issue(
                "ListFindings", requester.account_id, request, _position(key, rows[-1])
            )
        return Page([finding_json(r) for r in rows], token)

    def aggregate(self, requester: Requester, request: Mapping[str, Any]) -> Page:
        """`ListFindingAggregations`: a page of groups; the token holds how many were given before."""
        size = page_size(request)
        position = self._tokens.read("ListFindingAggregations", requester.account_id, request)
        if position is not None and (len(position) != 1 or type(position[0]) is not int or position[0] < 0):
            raise InvalidRequest("nextToken", "not a token this service issued")
        offset = position[0] if position else 0
        with self._sessions() as session:
            groups, more = aggregate(session, requester.visible, request, offset, size)
        token = None
        if more:
            token = self._tokens.issue(
                "ListFindingAggregations", requester.account_id, request, [offset + size]
            )
        return Page(groups, token)

    def details(
        self, requester: Requester, arns: list[str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """`findingDetails` of the findings the caller may see, and an error for each other ARN."""
        if not 1 <= len(arns) <= 10:
            raise InvalidRequest("findingArns", "from 1 to 10 finding ARNs")
        found: dict[str, Any] = {}
        errors, wanted = [], []
        for i, arn in enumerate(arns):
            match = FINDING_ARN.fullmatch(arn) if isinstance(arn, str) else None
            if match is None:
                raise InvalidRequest(f"findingArns[{i}]", "not a finding ARN")
            if match.group(3) not in requester.visible:
                errors.append(_detail_error(arn, "ACCESS_DENIED", "a finding of an account you cannot see"))
            else:
                wanted.append(arn)
        if wanted:
            with self._sessions() as session:
                statement = (
                    select(FindingRow.arn, FindingContentRow.body)
                    .join_from(FindingRow, FindingContentRow, FindingContentRow.digest == FindingRow.content)
                    .where(FindingRow.arn.in_(wanted))
                )
                found = dict(session.execute(statement).all())
        details = [_detail(arn, found[arn]) for arn in dict.fromkeys(wanted) if arn in found]
        errors += [
            _detail_error(arn, "FINDING_DETAILS_NOT_FOUND", "no such finding")
            for arn in dict.fromkeys(wanted)
            if arn not in found
        ]
        return details, errors


def iter_findings(
    sessions: sessionmaker[Session], accounts: Collection[str], criteria: Criteria, batch: int = 500
) -> Iterator[list[dict[str, Any]]]:
    """Every matching finding of these accounts, in batches by ARN, each read in a short transaction of its
    own (a long report never holds the store)."""
    after = ""
    while True:
        statement = (
            select_findings()
            .where(in_accounts(accounts), where(criteria), FindingRow.arn > after)
            .order_by(FindingRow.arn)
            .limit(batch)
        )
        with sessions() as session:
            rows = session.execute(statement).all()
        if not rows:
            return
        yield [finding_json(r) for r in rows]
        after = rows[-1].arn


def _sort(sort: Mapping[str, Any] | None) -> tuple[SortKey, bool]:
    sort = sort or DEFAULT_SORT
    key = SORT_FIELDS.get(sort.get("field", ""))
    if key is None:
        raise InvalidRequest("sortCriteria.field", f"one of {', '.join(SORT_FIELDS)}")
    if sort.get("sortOrder") not in ("ASC", "DESC"):
        raise InvalidRequest("sortCriteria.sortOrder", "ASC or DESC")
    return key, sort["sortOrder"] == "DESC"


def _ordered(statement: Select[Any], key: SortKey, descending: bool) -> Select[Any]:
    """Sorted by the key, then by ARN in the same direction: one index scan serves the page and its keyset."""
    arn = FindingRow.arn.desc() if descending else FindingRow.arn.asc()
    if key.expression is None:
        return statement.order_by(arn)
    value = key.expression.label("sort_value")
    return statement.add_columns(value).order_by(value.desc() if descending else value.asc(), arn)


def _position(key: SortKey, row: Any) -> list[Any]:
    if key.expression is None:
        return [row.arn]
    value = row.sort_value
    return [value.isoformat() if isinstance(value, dt.datetime) else value, row.arn]


def _after(key: SortKey, descending: bool, position: list[Any]) -> ColumnElement[bool]:
    """The findings after the position a token holds, in the page order."""
    invalid = InvalidRequest("nextToken", "not a token this service issued")
    if key.expression is None:
        if len(position) != 1 or not isinstance(position[0], str):
            raise invalid
        return FindingRow.arn < position[0] if descending else FindingRow.arn > position[0]
    if len(position) != 2 or not isinstance(position[1], str):
        raise invalid
    value, arn = position
    if key.kind is dt.datetime:
        try:
            value = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise invalid from None
    elif isinstance(value, bool) or not isinstance(value, (int, float) if key.kind is float else key.kind):
        raise invalid
    bound = literal(value, type_=FindingRow.first_observed_at.type) if key.kind is dt.datetime else value
    # a row-value comparison: both backends seek an index on (…, key, arn) with it
    after = tuple_(key.expression, FindingRow.arn)
    return after < tuple_(bound, arn) if descending else after > tuple_(bound, arn)


def _detail(arn: str, body: dict[str, Any]) -> dict[str, Any]:
    """What Vigil knows beyond the finding itself: EPSS, CISA KEV, the references."""
    detail: dict[str, Any] = {"findingArn": arn}
    references = body.get("packageVulnerabilityDetails", {}).get("referenceUrls", [])
    if references:
        detail["referenceUrls"] = references[:100]
    if "epss" in body:
        detail["epssScore"] = body["epss"]["score"]
    exploited = body.get("exploitabilityDetails", {}).get("lastKnownExploitAt")
    if exploited is not None:
        detail["cisaData"] = {"dateAdded": exploited}
    return detail


def _detail_error(arn: str, code: str, message: str) -> dict[str, Any]:
    return {"findingArn": arn, "errorCode": code, "errorMessage": message}
