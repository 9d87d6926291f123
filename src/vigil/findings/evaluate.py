"""The use case the CLI, the scheduler and the API call: evaluate an inventory at a given time.

A pure function of (inventory, advisory database, time): the same three give the same findings, in
the same order, with the same ARNs and timestamps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
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
from vigil.matching.model import SkippedPackage

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
    keys: Collection[tuple[str, str]] | None = None,
) -> Evaluation:
    """Match `inventory` against `reader`'s advisories and score the matches as of `now`.

    `resource_id` names the instance in `resources[]` and in the findings' ARNs (default: the target's
    hostname, else its paths). `now` must be timezone-aware: it is every finding's observation time and
    decides whether the OS is past its end of life. With `keys`, only the packages looked up under these
    (namespace, package) keys are matched (a re-evaluation after an advisory update; no end-of-life finding).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("evaluate: `now` must be timezone-aware (e.g. datetime.now(datetime.UTC))")
    if len(account_id) != 12 or not account_id.isdigit():
        raise ValueError(f"evaluate: an account id is 12 digits, not {account_id!r}")
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    target = inventory.target
    resource = Resource(
        account_id=account_id,
        region=region,
        resource_id=resource_id or target.hostname or ",".join(target.paths) or "unknown",
        platform=platform(inventory.os),
    )
    result = match_inventory(inventory, reader, keys=keys)
    findings = package_findings(result.matches, inventory, reader, resource, now)
    eol = end_of_life_finding(inventory, resource, now) if keys is None else None
    if eol is not None:
        findings.append(eol)
    findings.sort(key=lambda f: (-f.severity.rank, f.vulnerability_id))
    return Evaluation(tuple(findings), result.skipped, result.packages_matched, now)


__all__ = ["DEFAULT_ACCOUNT", "Evaluation", "FindingsReader", "evaluate"]
