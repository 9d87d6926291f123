"""Coverage as the API lists and counts it: the instances of the caller's enabled accounts, each with its
coverage (`coverage.coverage_of`), filtered, ordered by (account, instance id) and paged."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import Clock, system_clock
from vigil.fleet.agents import AgentState, agent_states
from vigil.fleet.instances import Descriptions, InstanceRecord, instances_of
from vigil.fleet.ports import AccountsDirectory
from vigil.scanning.coverage import EC2_INSTANCE, Coverage, coverage_of, network_coverage
from vigil.scanning.filters import FilterError, compile_criteria, decode_token, encode_token
from vigil.scanning.scans import ScanLog
from vigil.store.network import NetworkDescriptionRow, NetworkExposureRow

DEFAULT_PAGE = 100
GROUPS_PER_PAGE = 5  # `countsByGroup` holds at most five groups

GROUP_KEYS: dict[str, Callable[[Coverage], str]] = {
    "SCAN_STATUS_CODE": lambda c: c.status_code,
    "SCAN_STATUS_REASON": lambda c: c.reason,
    "ACCOUNT_ID": lambda c: c.instance.account_id,
    "RESOURCE_TYPE": lambda c: EC2_INSTANCE,
}
UNGROUPABLE = frozenset(  # group keys of other resource types and clouds: no instance has a value for them
    {"ECR_REPOSITORY_NAME", "PROVIDER", "PROVIDER_ACCOUNT_ID", "PROVIDER_REGION", "PROVIDER_ORG_ID"}
)


@dataclass(frozen=True, slots=True)
class CoveragePage:
    resources: tuple[Coverage, ...]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class GroupCount:
    group_key: str
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class CoverageStatistics:
    groups: tuple[GroupCount, ...]
    total: int
    next_token: str | None


class CoverageService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        accounts: AccountsDirectory,
        scans: ScanLog,
        clock: Clock = system_clock,
    ) -> None:
        self.sessions = sessions
        self.accounts = accounts
        self.scans = scans
        self.clock = clock
        self.descriptions = Descriptions()

    def covered(
        self, account_ids: Collection[str], *, instance_ids: Collection[str] | None = None
    ) -> list[Coverage]:
        """The PACKAGE coverage of each instance of these accounts that is enabled, in (account, id) order."""
        return self._covered(account_ids, instance_ids, network=False)

    def listed(self, account_ids: Collection[str]) -> list[Coverage]:
        """What `ListCoverage` lists: each instance's PACKAGE coverage and, where its provider describes its
        network, its NETWORK coverage, in (account, id, scan type) order."""
        return self._covered(account_ids, None, network=True)

    def _covered(
        self, account_ids: Collection[str], instance_ids: Collection[str] | None, *, network: bool
    ) -> list[Coverage]:
        enabled = set(self.accounts.enabled_accounts()) & set(account_ids)
        if not enabled:
            return []
        modes = {account: self.accounts.scan_mode(account) for account in enabled}
        deep = {account for account in enabled if self.accounts.deep_inspection_active(account)}
        now = self.clock()
        with self.sessions() as session:
            running = self.scans.running(session)
            agents = agent_states(session, enabled, instance_ids)
            records = instances_of(
                session, enabled, instance_ids=instance_ids, descriptions=self.descriptions
            )
            described, analysed = _networks(session, enabled) if network else (set(), {})
        listed = []
        for record in records:
            listed.append(self.of(record, modes[record.instance.account_id], running, agents, deep, now))
            if (record.instance.account_id, record.instance.provider) in described:
                listed.append(network_coverage(record, analysed.get(record.key)))
        return listed

    @staticmethod
    def of(
        record: InstanceRecord,
        mode: str,
        running: Collection[tuple[str, str]],
        agents: Mapping[tuple[str, str], AgentState],
        deep_inspection: Collection[str],
        now: dt.datetime,
    ) -> Coverage:
        return coverage_of(
            record,
            mode,
            scanning=record.key in running,
            agent=agents.get(record.key),
            deep_inspection=record.instance.account_id in deep_inspection,
            now=now,
        )

    def page(
        self,
        account_ids: Collection[str],
        criteria: Mapping[str, Any] | None = None,
        *,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> CoveragePage:
        """One page of `ListCoverage` (FilterError on a filter or token it cannot apply)."""
        wanted = compile_criteria(criteria)
        after = decode_token(next_token, 3)
        limit = max_results or DEFAULT_PAGE
        matching = [
            c for c in self.listed(account_ids) if wanted(c) and (after is None or _key(c) > tuple(after))
        ]
        shown = matching[:limit]
        token = encode_token(_key(shown[-1])) if len(matching) > limit else None
        return CoveragePage(tuple(shown), token)

    def statistics(
        self,
        account_ids: Collection[str],
        criteria: Mapping[str, Any] | None = None,
        *,
        group_by: str | None = None,
        next_token: str | None = None,
    ) -> CoverageStatistics:
        """`ListCoverageStatistics`: how many covered resources match, and per group (five groups a page)."""
        wanted = compile_criteria(criteria)
        matching = [c for c in self.listed(account_ids) if wanted(c)]
        if group_by is None:
            if next_token:
                raise FilterError("nextToken", "there is no next page without groupBy")
            return CoverageStatistics((), len(matching), None)
        if group_by not in GROUP_KEYS and group_by not in UNGROUPABLE:
            raise FilterError("groupBy", f"{group_by!r} is not a group key")
        counts = Counter(GROUP_KEYS[group_by](c) for c in matching) if group_by in GROUP_KEYS else Counter()
        position = decode_token(next_token, 1)
        values = sorted(v for v in counts if position is None or v > position[0])
        page = values[:GROUPS_PER_PAGE]
        token = encode_token([page[-1]]) if len(values) > GROUPS_PER_PAGE else None
        groups = tuple(GroupCount(group_by, value, counts[value]) for value in page)
        return CoverageStatistics(groups, len(matching), token)


def _key(coverage: Coverage) -> tuple[str, str, str]:
    return coverage.instance.account_id, coverage.instance.instance_id, coverage.scan_type


def _networks(
    session: Session, account_ids: Collection[str]
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], dt.datetime]]:
    """The (account, provider) pairs with a network description, and each analysed instance's analysis."""
    accounts = sorted(account_ids)
    described = {
        (account, provider)
        for account, provider in session.execute(
            select(NetworkDescriptionRow.account_id, NetworkDescriptionRow.provider).where(
                NetworkDescriptionRow.account_id.in_(accounts)
            )
        )
    }
    if not described:
        return described, {}
    analysed = {
        (account, instance): at
        for account, instance, at in session.execute(
            select(
                NetworkExposureRow.account_id, NetworkExposureRow.instance_id, NetworkExposureRow.analyzed_at
            ).where(NetworkExposureRow.account_id.in_(accounts))
        )
    }
    return described, analysed
