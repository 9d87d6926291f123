"""Discovery: ask an account's provider what the fleet is now and record what changed (new, changed,
stopped, terminated and vanished instances, and the KMS keys), on its schedule and when a provider is
attached. Attaching replaces the account's provider of that kind; a provider that cannot describe its fleet
is refused at attachment, and a later failure is recorded on the provider and changes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.fleet.instances import instance_to_json
from vigil.fleet.model import Instance, InstanceState
from vigil.fleet.providers import FleetDescription, Provider, ProviderError, provider_for
from vigil.network.ec2 import description_digest
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow, KmsKeyRow, ProviderRow
from vigil.store.network import NetworkDescriptionRow


@dataclass(frozen=True, slots=True)
class DiscoveryReport:
    """What one discovery of one account's provider found (instance ids, sorted)."""

    account_id: str
    provider: str
    at: dt.datetime
    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()
    terminated: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()
    unchanged: int = 0
    error: str | None = None
    network_changed: bool = False  # the provider's network description changed (or appeared, or went)

    def to_json(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "provider": self.provider,
            "at": self.at.isoformat(),
            "new": list(self.new),
            "changed": list(self.changed),
            "stopped": list(self.stopped),
            "terminated": list(self.terminated),
            "vanished": list(self.vanished),
            "unchanged": self.unchanged,
            "networkChanged": self.network_changed,
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True, slots=True)
class AttachedProvider:
    account_id: str
    kind: str
    config: dict[str, Any]
    attached_at: dt.datetime
    discovered_at: dt.datetime | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "accountId": self.account_id,
            "provider": self.kind,
            "config": self.config,
            "attachedAt": self.attached_at.isoformat(),
            "discoveredAt": self.discovered_at.isoformat() if self.discovered_at else None,
        }
        if self.error:
            data["error"] = self.error
        return data


def attach(
    sessions: sessionmaker[Session], account_id: str, provider: Provider, now: dt.datetime
) -> DiscoveryReport:
    """Attach (or replace) the account's provider of this kind and discover its fleet now.

    The provider is asked first: one that cannot describe its fleet is refused (`ProviderError`) and the
    previous one stays.
    """
    description = provider.describe(account_id)
    with transaction(sessions) as session:
        row = session.get(ProviderRow, (account_id, provider.kind))
        if row is None:
            row = ProviderRow(account_id=account_id, kind=provider.kind)
            session.add(row)
        row.config, row.attached_at, row.error = provider.config(), now, None
        row.discovered_at = now
        return _apply(session, account_id, provider.kind, description, now)


def detach(sessions: sessionmaker[Session], account_id: str, kind: str, now: dt.datetime) -> DiscoveryReport:
    """Remove the account's provider: its instances vanish (terminated, their findings closed)."""
    with transaction(sessions) as session:
        row = session.get(ProviderRow, (account_id, kind))
        if row is None:
            raise LookupError(f"account {account_id} has no {kind} provider")
        session.delete(row)
        return _apply(session, account_id, kind, FleetDescription(()), now)


def providers(
    sessions: sessionmaker[Session], account_ids: list[str] | None = None
) -> list[AttachedProvider]:
    """The attached providers (of these accounts), in (account, kind) order."""
    query = select(ProviderRow).order_by(ProviderRow.account_id, ProviderRow.kind)
    if account_ids is not None:
        query = query.where(ProviderRow.account_id.in_(sorted(account_ids)))
    with sessions() as session:
        return [
            AttachedProvider(r.account_id, r.kind, r.config, r.attached_at, r.discovered_at, r.error)
            for r in session.scalars(query)
        ]


def discover(
    sessions: sessionmaker[Session], account_id: str, kind: str, now: dt.datetime
) -> DiscoveryReport:
    """Discover the fleet of the account's provider of this kind; a provider that fails records why and
    changes nothing (its instances are not taken for vanished because a file could not be read)."""
    with sessions() as session:
        row = session.get(ProviderRow, (account_id, kind))
        if row is None:
            raise LookupError(f"account {account_id} has no {kind} provider")
        config = dict(row.config)
    try:
        description = provider_for(kind, config).describe(account_id)
    except ProviderError as exc:
        with transaction(sessions) as session:
            failed = session.get(ProviderRow, (account_id, kind))
            if failed is not None:
                failed.error, failed.discovered_at = str(exc)[:2048], now
        return DiscoveryReport(account_id, kind, now, error=str(exc))
    with transaction(sessions) as session:
        current = session.get(ProviderRow, (account_id, kind))
        if current is None or current.config != config:  # detached or replaced meanwhile
            return DiscoveryReport(account_id, kind, now, error="the provider was replaced during discovery")
        current.error, current.discovered_at = None, now
        return _apply(session, account_id, kind, description, now)


@dataclass
class _Changes:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    unchanged: int = 0


def _apply(
    session: Session, account_id: str, kind: str, description: FleetDescription, now: dt.datetime
) -> DiscoveryReport:
    stored = {
        row.instance_id: row
        for row in session.scalars(
            select(InstanceRow).where(InstanceRow.account_id == account_id, InstanceRow.provider == kind)
        )
    }
    changes = _Changes()
    for instance in description.instances:
        row = stored.pop(instance.instance_id, None)
        if row is None:
            session.add(_new_row(instance, now))
            changes.new.append(instance.instance_id)
        else:
            _update(row, instance, now, changes)
    for row in stored.values():
        if not row.vanished:
            _vanish(row, now)
            changes.vanished.append(row.instance_id)
    _replace_keys(session, account_id, kind, description)
    network_changed = _save_network(session, account_id, kind, description, now)
    return DiscoveryReport(
        account_id,
        kind,
        now,
        new=tuple(sorted(changes.new)),
        changed=tuple(sorted(changes.changed)),
        stopped=tuple(sorted(changes.stopped)),
        terminated=tuple(sorted(changes.terminated)),
        vanished=tuple(sorted(changes.vanished)),
        unchanged=changes.unchanged,
        network_changed=network_changed,
    )


def _save_network(
    session: Session, account_id: str, kind: str, description: FleetDescription, now: dt.datetime
) -> bool:
    """Keep the provider's network description (forget it when it describes none; keep the last one when it
    could not read it now); whether it changed."""
    row = session.get(NetworkDescriptionRow, (account_id, kind))
    network = description.network
    if network is None:
        if row is None or description.network_error is not None:
            return False
        session.delete(row)
        return True
    digest = description_digest(network)
    if row is None:
        session.add(
            NetworkDescriptionRow(
                account_id=account_id, provider=kind, digest=digest, description=dict(network),
                described_at=now, changed_at=now,
            )
        )  # fmt: skip
        return True
    row.described_at = now
    if row.digest == digest:
        return False
    row.digest, row.description, row.changed_at = digest, dict(network), now
    return True


def _new_row(instance: Instance, now: dt.datetime) -> InstanceRow:
    return InstanceRow(
        account_id=instance.account_id,
        instance_id=instance.instance_id,
        provider=instance.provider,
        state=instance.state.value,
        description=instance_to_json(instance),
        first_seen_at=now,
        changed_at=now,
        terminated_at=now if instance.state is InstanceState.TERMINATED else None,
        vanished=False,
    )


def _update(row: InstanceRow, instance: Instance, now: dt.datetime, changes: _Changes) -> None:
    description = instance_to_json(instance)
    if description == row.description and not row.vanished:
        changes.unchanged += 1
        return
    was = row.state
    row.description, row.state, row.vanished, row.changed_at = description, instance.state.value, False, now
    row.revision += 1
    if instance.state is InstanceState.TERMINATED:
        row.terminated_at = row.terminated_at or now
        (changes.terminated if was != row.state else changes.changed).append(instance.instance_id)
        return
    row.terminated_at = None
    if instance.state is InstanceState.STOPPED and was != row.state:
        changes.stopped.append(instance.instance_id)
    else:
        changes.changed.append(instance.instance_id)


def _vanish(row: InstanceRow, now: dt.datetime) -> None:
    description = dict(row.description, state=InstanceState.TERMINATED.value)
    row.description, row.state, row.vanished = description, InstanceState.TERMINATED.value, True
    row.revision += 1
    row.terminated_at = row.terminated_at or now
    row.changed_at = now


def _replace_keys(session: Session, account_id: str, kind: str, description: FleetDescription) -> None:
    session.execute(delete(KmsKeyRow).where(KmsKeyRow.account_id == account_id, KmsKeyRow.provider == kind))
    session.flush()
    for key in description.kms_keys:
        session.add(
            KmsKeyRow(
                account_id=account_id, key_id=key.key_id, provider=kind, tags=key.tags, usable=key.usable
            )
        )
