"""What the fleet service's parts ask of each other, as Protocols (STYLE habit 3: services through
constructors). `create_app` wires the implementations named in each docstring."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Protocol

from vigil.findings.evaluate import Evaluation
from vigil.findings.model import Finding
from vigil.fleet.model import Instance
from vigil.inventory.model import Inventory


class AccountsDirectory(Protocol):
    """The accounts and their scanning configuration (`vigil.fleet.accounts.AccountsService`)."""

    def enabled_accounts(self) -> list[str]:
        """Accounts whose EC2 scanning is ENABLED: the only ones scanned."""
        ...

    def scan_mode(self, account_id: str) -> str:
        """`EC2_HYBRID` or `EC2_SSM_AGENT_BASED`: the delegated administrator's for its members."""
        ...

    def deep_inspection_active(self, account_id: str) -> bool:
        """Whether the account's agents collect language packages (deep inspection ACTIVATED)."""
        ...

    def deep_inspection_paths(self, account_id: str) -> tuple[str, ...]:
        """The account's custom paths and its organization's (at most 5 + 5)."""
        ...


class FindingsRecorder(Protocol):
    """The findings lifecycle (`vigil.findings.service.FindingsService`)."""

    def record(self, instance: Instance, evaluation: Evaluation, now: dt.datetime) -> None:
        """One evaluation of the instance: new findings ACTIVE (or SUPPRESSED by a filter), seen ones
        updated, findings it no longer has CLOSED, closed ones that came back within 7 days reopened."""
        ...

    def record_many(self, evaluated: Sequence[tuple[Instance, Evaluation]], now: dt.datetime) -> None:
        """Several instances' evaluations, each recorded as `record` does, together."""
        ...

    def record_vulnerabilities(
        self,
        instances: Sequence[Instance],
        vulnerabilities: Collection[str],
        findings: Sequence[Finding],
        now: dt.datetime,
        *,
        region: str,
    ) -> int:
        """A re-evaluation of these vulnerabilities alone on instances holding the same inventory: `findings`
        (the first instance's; the others' are the same) replace theirs of these vulnerabilities, the
        others are left as they are. Returns how many findings changed."""
        ...

    def open_vulnerabilities(
        self, instances: Collection[Instance]
    ) -> dict[tuple[str, str], dict[str, set[str]]]:
        """Per instance (account, id), the vulnerabilities of its open findings, each with the names of its
        packages."""
        ...

    def close_instance(
        self, account_id: str, instance_id: str, now: dt.datetime, *, reason: str, packages_only: bool = False
    ) -> None:
        """The instance was terminated, excluded by tag or became ineligible: its findings (`packages_only`:
        its package findings) are CLOSED (and purged after 3 days); a stopped instance keeps its findings
        and is never passed here."""
        ...

    def record_network(
        self, analysed: Sequence[tuple[Instance, Sequence[Mapping[str, Any]]]], now: dt.datetime
    ) -> None:
        """Instances' network analyses: their NETWORK_REACHABILITY findings, with the same lifecycle."""
        ...

    def observe_network(self, account_id: str, instance_ids: Collection[str], now: dt.datetime) -> None:
        """These instances' open network findings were found again, unchanged."""
        ...

    def close_network(self, account_id: str, instance_ids: Collection[str], now: dt.datetime) -> int:
        """These instances' network findings close (no network description covers them any more)."""
        ...

    def reexpose(self, instances: Sequence[Instance], now: dt.datetime) -> int:
        """The instances' exposure changed: their package findings' scores and descriptions follow it."""
        ...

    def purge(self, now: dt.datetime) -> int:
        """Delete what the lifecycle says is gone for good; returns how many findings were deleted."""
        ...


class InventorySource(Protocol):
    """The instances' latest stored inventories (`vigil.scanning.inventories.InventoryStore`)."""

    def latest(
        self, account_ids: Collection[str], instance_ids: Collection[str] | None = None
    ) -> Iterator[tuple[Instance, Inventory]]:
        """Each instance of these accounts (or only these instances) with its latest inventory."""
        ...
