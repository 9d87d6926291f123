"""What the Vigil API asks of the fleet: providers, instances and scans, for the accounts a caller may see.

Refusals are errors of this module (`NotScannable`), of discovery (`ProviderError`, `LookupError` for what
does not exist or is not the caller's to see) and of the scan log (`ScanConflict`); the API turns each into
Inspector's error shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.fleet import discovery
from vigil.fleet.instances import InstanceRecord, find_instance, instance_to_json, instances_of
from vigil.fleet.model import InstanceState
from vigil.fleet.providers import Provider
from vigil.fleet.providers.local import LocalProvider
from vigil.scanning.coverage import AGENT_BASED, UNMANAGED_EC2_INSTANCE, Coverage, agentless_ineligibility
from vigil.scanning.executor import Executor
from vigil.scanning.filters import FilterError, decode_token, encode_token
from vigil.scanning.reconcile import reconcile
from vigil.scanning.scans import ScanRecord
from vigil.scanning.services import FleetServices

DEFAULT_PAGE = 100
STATES = frozenset(s.value for s in InstanceState)


class NotScannable(Exception):
    """The instance cannot be scanned now; `reason` is its coverage reason (or why not, in words)."""

    def __init__(self, instance_id: str, reason: str) -> None:
        super().__init__(f"{instance_id} cannot be scanned now: {reason}")
        self.instance_id = instance_id
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InstanceView:
    """An instance as `GET /vigil/v1/instances` shows it: its description, coverage and scan state."""

    record: InstanceRecord
    coverage: Coverage | None  # None while its account's EC2 scanning is not enabled

    def to_json(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        record = self.record
        data = instance_to_json(record.instance)
        data.update(
            firstSeenAt=iso(record.first_seen_at),
            changedAt=iso(record.changed_at),
            terminatedAt=iso(record.terminated_at),
            vanished=record.vanished,
            lastScannedAt=iso(record.last_scanned_at),
            inventoryHash=record.inventory_hash,
            lastScan=None
            if record.scan_outcome is None
            else {"startedAt": iso(record.scan_started_at), "outcome": record.scan_outcome,
                  "reason": record.scan_reason},
            coverage=None
            if self.coverage is None
            else {"statusCode": self.coverage.status_code, "reason": self.coverage.reason,
                  "scanMode": self.coverage.scan_mode},
        )  # fmt: skip
        return data


class FleetOperations:
    def __init__(self, services: FleetServices, executor: Executor) -> None:
        self.services = services
        self.executor = executor

    # -- providers --------------------------------------------------------------------------------
    def attach_local(self, account_id: str, path: str) -> discovery.DiscoveryReport:
        """Attach (or replace) the account's local fleet file and discover it now (ProviderError if the
        file cannot be used: nothing changes then)."""
        return self._attach(account_id, LocalProvider(path))

    def attach_aws(
        self,
        account_id: str,
        regions: Sequence[str],
        role_arn: str | None = None,
        endpoint_url: str | None = None,
        *,
        external_id: str | None = None,
    ) -> discovery.DiscoveryReport:
        """Attach (or replace) the account's AWS fleet (its regions, with boto3's credentials or a role they
        assume, through another endpoint if given) and discover it now (ProviderError if it cannot be
        described: nothing changes then)."""
        from vigil.fleet.providers.aws.access import AwsAccess
        from vigil.fleet.providers.aws.provider import AwsProvider

        access = AwsAccess(regions, role_arn, endpoint_url, external_id=external_id)
        return self._attach(account_id, AwsProvider(access))

    def _attach(self, account_id: str, provider: Provider) -> discovery.DiscoveryReport:
        report = discovery.attach(self.services.sessions, account_id, provider, self.services.clock())
        self._reconcile(account_id)
        return report

    def detach(self, account_id: str, kind: str) -> discovery.DiscoveryReport:
        report = discovery.detach(self.services.sessions, account_id, kind, self.services.clock())
        self._reconcile(account_id)
        return report

    def providers(self, account_ids: Collection[str]) -> list[discovery.AttachedProvider]:
        return discovery.providers(self.services.sessions, sorted(account_ids))

    def _reconcile(self, account_id: str) -> None:
        services = self.services
        reconcile(services.sessions, services.coverage, services.findings, account_id, services.clock())

    # -- instances --------------------------------------------------------------------------------
    def instances(
        self,
        account_ids: Collection[str],
        *,
        state: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[InstanceView], str | None]:
        """A page of the accounts' instances, in (account, instance id) order."""
        if state is not None and state not in STATES:
            raise FilterError("state", f"{state!r} is not one of {', '.join(sorted(STATES))}")
        after = decode_token(next_token, 2)
        limit = max_results or DEFAULT_PAGE
        start = None if after is None else (str(after[0]), str(after[1]))
        with self.services.sessions() as session:
            found = list(instances_of(session, account_ids, after=start, limit=limit + 1, state=state))
        shown = found[:limit]
        token = encode_token(shown[-1].key) if len(found) > limit else None
        return self._views(shown), token

    def instance(
        self, account_ids: Collection[str], instance_id: str, account_id: str | None = None
    ) -> InstanceView:
        return self._views([self._resolve(account_ids, instance_id, account_id)])[0]

    def _views(self, records: list[InstanceRecord]) -> list[InstanceView]:
        accounts = {r.instance.account_id for r in records}
        ids = [r.instance.instance_id for r in records]
        coverage = {c.record.key: c for c in self.services.coverage.covered(accounts, instance_ids=ids)}
        return [InstanceView(r, coverage.get(r.key)) for r in records]

    def _resolve(
        self, account_ids: Collection[str], instance_id: str, account_id: str | None
    ) -> InstanceRecord:
        """The instance named `instance_id` among the caller's accounts (an id is unique within one)."""
        wanted = [account_id] if account_id is not None else account_ids
        with self.services.sessions() as session:
            found = find_instance(session, set(wanted) & set(account_ids), instance_id)
        if not found:
            raise LookupError(f"no instance {instance_id}")
        if len(found) > 1:
            raise FilterError("accountId", f"{instance_id} is in several accounts: name the account")
        return found[0]

    # -- scans ------------------------------------------------------------------------------------
    def request_scan(
        self, account_ids: Collection[str], instance_id: str, account_id: str | None = None
    ) -> ScanRecord:
        """Queue an agentless scan of the instance now and hand it to the executor (ScanConflict when
        one is queued or running, NotScannable when the instance is not one agentless scans cover)."""
        record = self._resolve(account_ids, instance_id, account_id)
        instance = record.instance
        covered = self.services.coverage.covered([instance.account_id], instance_ids=[instance_id])
        if not covered:
            raise NotScannable(instance_id, f"EC2 scanning is not enabled for account {instance.account_id}")
        if self.services.accounts.scan_mode(instance.account_id) == AGENT_BASED:
            raise NotScannable(instance_id, UNMANAGED_EC2_INSTANCE)
        if instance.state is not InstanceState.RUNNING:
            raise NotScannable(instance_id, covered[0].reason)
        ineligible = agentless_ineligibility(instance)
        if ineligible is not None:
            raise NotScannable(instance_id, ineligible)
        scan = self.services.scans.queue(instance.account_id, instance_id, "request", self.services.clock())
        self.executor.submit("scan_instance", scan_id=scan.scan_id)
        return self.services.scans.get(scan.scan_id) or scan

    def scans(
        self,
        account_ids: Collection[str],
        *,
        instance_id: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[ScanRecord], str | None]:
        """A page of the accounts' scans, newest first."""
        after = decode_token(next_token, 2)
        limit = max_results or DEFAULT_PAGE
        position = None if after is None else (str(after[0]), str(after[1]))
        found = self.services.scans.history(
            account_ids, instance_id=instance_id, after=position, limit=limit + 1
        )
        shown = found[:limit]
        last = shown[-1] if shown else None
        token = (
            encode_token([last.requested_at.isoformat(), last.scan_id])
            if last and len(found) > limit
            else None
        )
        return shown, token

    def scan(self, account_ids: Collection[str], scan_id: str) -> ScanRecord:
        scan = self.services.scans.get(scan_id)
        if scan is None or scan.account_id not in account_ids:
            raise LookupError(f"no scan {scan_id}")
        return scan
