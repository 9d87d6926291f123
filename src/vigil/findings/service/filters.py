"""Findings filters (`CreateFilter`, `UpdateFilter`, `DeleteFilter`, `ListFilters`).

A filter belongs to the account that made it. A SUPPRESS filter turns the open findings it matches SUPPRESSED,
now and whenever a finding is recorded; changing or deleting it gives them back the status the remaining
filters say. A filter of the organization's delegated administrator applies to its members' findings too
(`FindingsService.filter_owners`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import Clock
from vigil.findings.model import epoch
from vigil.findings.service.criteria import parse_criteria
from vigil.findings.service.errors import InvalidRequest, NotFound, QuotaExceeded
from vigil.findings.service.lifecycle import FindingsService
from vigil.findings.service.listing import Page, Requester, page_size
from vigil.findings.service.suppression import suppress
from vigil.findings.service.tokens import PageTokens
from vigil.store.engine import transaction
from vigil.store.filters import FilterRow

FILTERS_PER_ACCOUNT = 500
ACTIONS = ("NONE", "SUPPRESS")
_TEXT_MEMBERS = {"name": 128, "description": 512, "reason": 512}


class FiltersService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        findings: FindingsService,
        tokens: PageTokens,
        clock: Clock,
        *,
        region: str,
    ) -> None:
        self._sessions = sessions
        self._findings = findings
        self._tokens = tokens
        self._clock = clock
        self._region = region

    def create(self, requester: Requester, request: Mapping[str, Any]) -> str:
        owner = requester.account_id
        values = _values(request, creating=True)
        now = self._clock()
        arn = f"arn:aws:inspector2:{self._region}:{owner}:owner/{owner}/filter/{secrets.token_hex(8)}"
        with transaction(self._sessions) as session:
            count = session.scalar(select(func.count()).where(FilterRow.owner_id == owner))
            if (count or 0) >= FILTERS_PER_ACCOUNT:
                raise QuotaExceeded(f"an account has at most {FILTERS_PER_ACCOUNT} filters")
            session.add(FilterRow(arn=arn, owner_id=owner, created_at=now, updated_at=now, **values))
            if values["action"] == "SUPPRESS":
                self._resuppress(session, requester)
        return arn

    def update(self, requester: Requester, request: Mapping[str, Any]) -> str:
        arn = request.get("filterArn")
        values = _values(request, creating=False)
        now = self._clock()
        with transaction(self._sessions) as session:
            row = _visible(session, requester, arn)
            suppressed = row.action == "SUPPRESS" or values.get("action") == "SUPPRESS"
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            if suppressed:
                self._resuppress(session, requester)
        return row.arn

    def delete(self, requester: Requester, arn: Any) -> str:
        with transaction(self._sessions) as session:
            row = _visible(session, requester, arn)
            session.delete(row)
            if row.action == "SUPPRESS":
                self._resuppress(session, requester)
        return row.arn

    def _resuppress(self, session: Session, requester: Requester) -> None:
        """In the filter's own unit of work: the findings of every account its owner's filters reach."""
        session.flush()
        now = self._clock()
        for account in sorted(requester.visible):
            suppress(session, account, self._findings.filter_owners(session, account), now)

    def list(self, requester: Requester, request: Mapping[str, Any]) -> Page:
        size = page_size(request)
        after = self._tokens.read("ListFilters", requester.account_id, request)
        if after is not None and (len(after) != 1 or not isinstance(after[0], str)):
            raise InvalidRequest("nextToken", "not a token this service issued")
        statement = select(FilterRow).where(FilterRow.owner_id.in_(sorted(requester.visible)))
        if request.get("arns"):
            statement = statement.where(FilterRow.arn.in_(list(request["arns"])))
        if request.get("action") is not None:
            statement = statement.where(FilterRow.action == _action(request["action"]))
        if after:
            statement = statement.where(FilterRow.arn > after[0])
        with self._sessions() as session:
            rows = list(session.scalars(statement.order_by(FilterRow.arn).limit(size + 1)))
        token = None
        if len(rows) > size:
            rows = rows[:size]
            token = self._tokens.issue("ListFilters", requester.account_id, request, [rows[-1].arn])
        return Page([filter_json(r) for r in rows], token)


def filter_json(row: FilterRow) -> dict[str, Any]:
    """Inspector's `Filter`."""
    described = {
        "arn": row.arn,
        "ownerId": row.owner_id,
        "name": row.name,
        "criteria": row.criteria,
        "action": row.action,
        "createdAt": epoch(row.created_at),
        "updatedAt": epoch(row.updated_at),
        "description": row.description,
        "reason": row.reason,
        "tags": row.tags or None,
    }
    return {k: v for k, v in described.items() if v is not None}


def _visible(session: Session, requester: Requester, arn: Any) -> FilterRow:
    row = session.get(FilterRow, arn) if isinstance(arn, str) else None
    if row is None or row.owner_id not in requester.visible:
        raise NotFound(f"no filter {arn}")
    return row


def _action(action: Any) -> str:
    if action not in ACTIONS:
        raise InvalidRequest("action", "NONE or SUPPRESS")
    return str(action)


def _values(request: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The filter's members the request sets (all of the required ones when creating)."""
    values: dict[str, Any] = {}
    for member, limit in _TEXT_MEMBERS.items():
        if member in request:
            text = request[member]
            if not isinstance(text, str) or not 1 <= len(text) <= limit:
                raise InvalidRequest(member, f"a string of 1 to {limit} characters")
            values[member] = text
    if "action" in request or creating:
        values["action"] = _action(request.get("action"))
    if "filterCriteria" in request or creating:
        criteria = parse_criteria(request.get("filterCriteria"))
        if criteria.empty:
            raise InvalidRequest("filterCriteria", "a filter needs at least one criterion")
        values["criteria"] = criteria.document
    if creating:
        if "name" not in values:
            raise InvalidRequest("name", "required")
        tags = request.get("tags") or {}
        if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
            raise InvalidRequest("tags", "a map of strings")
        values["tags"] = dict(tags)
    return values
