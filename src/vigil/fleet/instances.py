"""Instances as the store keeps them: the provider's description (a frozen `Instance`, stored as JSON) and
what scanning made of it, read back as one frozen `InstanceRecord`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from vigil.fleet.model import Instance, InstanceState, Platform, Volume
from vigil.store.fleet import InstanceRow

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"


def instance_to_json(instance: Instance) -> dict[str, Any]:
    """The description as the store keeps it (and `GET /vigil/v1/instances` shows it)."""
    data: dict[str, Any] = {
        "accountId": instance.account_id,
        "instanceId": instance.instance_id,
        "state": instance.state.value,
        "platform": instance.platform.value,
        "provider": instance.provider,
        "tags": dict(instance.tags),
        "volumes": [
            {
                "volumeId": v.volume_id,
                "device": v.device,
                "sizeGiB": v.size_gib,
                "encrypted": v.encrypted,
                "kmsKeyId": v.kms_key_id,
                "source": v.source,
            }
            for v in instance.volumes
        ],
        "ipV4Addresses": list(instance.ip_v4_addresses),
    }
    for key, value in (
        ("imageId", instance.image_id),
        ("instanceType", instance.instance_type),
        ("launchedAt", instance.launched_at.isoformat() if instance.launched_at else None),
        ("keyName", instance.key_name),
        ("vpcId", instance.vpc_id),
        ("subnetId", instance.subnet_id),
    ):
        data[key] = value
    return data


def instance_from_json(data: dict[str, Any]) -> Instance:
    launched = data.get("launchedAt")
    return Instance(
        account_id=data["accountId"],
        instance_id=data["instanceId"],
        state=InstanceState(data["state"]),
        platform=Platform(data["platform"]),
        image_id=data.get("imageId"),
        instance_type=data.get("instanceType"),
        launched_at=dt.datetime.fromisoformat(launched) if launched else None,
        key_name=data.get("keyName"),
        vpc_id=data.get("vpcId"),
        subnet_id=data.get("subnetId"),
        ip_v4_addresses=tuple(data.get("ipV4Addresses", ())),
        tags=dict(data.get("tags", {})),
        volumes=tuple(
            Volume(v["volumeId"], v["device"], v["sizeGiB"], v["encrypted"], v["kmsKeyId"], v["source"])
            for v in data.get("volumes", ())
        ),
        provider=data.get("provider", "local"),
    )


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One stored instance: its description and what scanning knows of it."""

    instance: Instance
    first_seen_at: dt.datetime
    changed_at: dt.datetime
    terminated_at: dt.datetime | None
    vanished: bool
    scan_started_at: dt.datetime | None  # the last scan that finished (not one cancelled)
    scan_outcome: str | None  # SUCCEEDED | FAILED
    scan_reason: str | None  # the coverage reason the last finished scan gave
    last_scanned_at: dt.datetime | None
    inventory_hash: str | None
    closed_reason: str | None  # its findings were closed for this reason (None: they are not)

    @property
    def key(self) -> tuple[str, str]:
        return self.instance.account_id, self.instance.instance_id

    @classmethod
    def of(cls, row: InstanceRow) -> InstanceRecord:
        return cls(
            instance=instance_from_json(row.description),
            first_seen_at=row.first_seen_at,
            changed_at=row.changed_at,
            terminated_at=row.terminated_at,
            vanished=row.vanished,
            scan_started_at=row.scan_started_at,
            scan_outcome=row.scan_outcome,
            scan_reason=row.scan_reason,
            last_scanned_at=row.last_scanned_at,
            inventory_hash=row.inventory_hash,
            closed_reason=row.closed_reason,
        )


def get_instance(session: Session, account_id: str, instance_id: str) -> InstanceRecord | None:
    row = session.get(InstanceRow, (account_id, instance_id))
    return None if row is None else InstanceRecord.of(row)


def find_instance(session: Session, account_ids: Collection[str], instance_id: str) -> list[InstanceRecord]:
    """The instances named `instance_id` among these accounts (an id is unique only within an account)."""
    rows = session.scalars(
        select(InstanceRow).where(
            InstanceRow.account_id.in_(sorted(account_ids)), InstanceRow.instance_id == instance_id
        )
    )
    return [InstanceRecord.of(row) for row in rows]


def instances_of(
    session: Session,
    account_ids: Collection[str],
    *,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
    instance_ids: Collection[str] | None = None,
    state: str | None = None,
) -> Iterator[InstanceRecord]:
    """The accounts' instances (in this state) in (account, instance id) order, from after `after`."""
    query = select(InstanceRow).where(InstanceRow.account_id.in_(sorted(account_ids)))
    if state is not None:
        query = query.where(InstanceRow.state == state)
    if instance_ids is not None:
        query = query.where(InstanceRow.instance_id.in_(sorted(instance_ids)))
    if after is not None:
        query = query.where(tuple_(InstanceRow.account_id, InstanceRow.instance_id) > after)
    query = query.order_by(InstanceRow.account_id, InstanceRow.instance_id)
    if limit is not None:
        query = query.limit(limit)
    for row in session.scalars(query):
        yield InstanceRecord.of(row)
