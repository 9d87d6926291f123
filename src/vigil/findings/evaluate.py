"""The use case the CLI, the scheduler and the API call: evaluate an inventory at a given time.

A pure function of (inventory, advisory database, time): the same three give the same findings, in
the same order, with the same ARNs and timestamps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vigil.findings.inspector import (
    DEFAULT_REGION,
    Resource,
    end_of_life_finding,
    package_findings,
    platform,
)
from vigil.findings.model import Finding
from vigil.findings.scoring import EnrichmentReader
from vigil.inventory.model import Inventory
from vigil.matching.match import AdvisoryReader, match_inventory
from vigil.matching.model import Match, SkippedPackage

DEFAULT_ACCOUNT = "000000000000"


class FindingsReader(AdvisoryReader, EnrichmentReader, Protocol):
    """The advisory database as evaluation reads it: advisories, then scores (`AdvisoryDB`)."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The findings of one inventory at one time, and what was deliberately not matched."""

    findings: tuple[Finding, ...]  # the worst first
    skipped: tuple[SkippedPackage, ...]
    packages_matched: int
    evaluated_at: dt.datetime


def evaluate(
    inventory: Inventory,
    reader: FindingsReader,
    *,
    now: dt.datetime,
    account_id: str = DEFAULT_ACCOUNT,
    resource_id: str | None = None,
    region: str = DEFAULT_REGION,
) -> Evaluation:
    """Match `inventory` against `reader`'s advisories and score the matches as of `now`.

    `resource_id` names the instance in `resources[]` and in the findings' ARNs (default: the target's
    hostname, else its paths). `now` must be timezone-aware: it is every finding's observation time and
    decides whether the OS is past its end of life.
    """
    now = _utc(now)
    resource = _resource(inventory, account_id, resource_id, region)
    result = match_inventory(inventory, reader)
    findings = package_findings(result.matches, inventory, reader, resource, now)
    eol = end_of_life_finding(inventory, resource, now)
    if eol is not None:
        findings.append(eol)
    findings.sort(key=lambda f: (-f.severity.rank, f.vulnerability_id))
    return Evaluation(tuple(findings), result.skipped, result.packages_matched, now)


def findings_of(
    matches: Sequence[Match],
    inventory: Inventory,
    reader: FindingsReader,
    *,
    now: dt.datetime,
    account_id: str,
    resource_id: str,
    region: str,
) -> tuple[Finding, ...]:
    """The package findings of some of the inventory's matches, as `evaluate` makes them (a re-evaluation
    after an advisory update builds only the findings it can have changed)."""
    resource = _resource(inventory, account_id, resource_id, region)
    findings = package_findings(matches, inventory, reader, resource, _utc(now))
    return tuple(sorted(findings, key=lambda f: (-f.severity.rank, f.vulnerability_id)))


def _utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("evaluate: `now` must be timezone-aware (e.g. datetime.now(datetime.UTC))")
    return now.astimezone(dt.UTC).replace(microsecond=0)


def _resource(inventory: Inventory, account_id: str, resource_id: str | None, region: str) -> Resource:
    if len(account_id) != 12 or not account_id.isdigit():
        raise ValueError(f"evaluate: an account id is 12 digits, not {account_id!r}")
    target = inventory.target
    return Resource(
        account_id=account_id,
        region=region,
        resource_id=resource_id or target.hostname or ",".join(target.paths) or "unknown",
        platform=platform(inventory.os),
    )


__all__ = ["DEFAULT_ACCOUNT", "Evaluation", "FindingsReader", "evaluate", "findings_of"]
