"""Instances as the store keeps them: the provider's description (a frozen `Instance`, stored as JSON) and
what scanning made of it, read back as one frozen `InstanceRecord`."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection
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
    if instance.machine_id is not None:  # absent, not null: older descriptions stay equal
        data["machineId"] = instance.machine_id
    if instance.region is not None:
        data["region"] = instance.region
    if instance.root_device_type != "ebs":
        data["rootDeviceType"] = instance.root_device_type
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
        machine_id=data.get("machineId"),
        region=data.get("region"),
        root_device_type=data.get("rootDeviceType", "ebs"),
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


_RECORD_COLUMNS = (
    InstanceRow.account_id,
    InstanceRow.instance_id,
    InstanceRow.revision,
    InstanceRow.first_seen_at,
    InstanceRow.changed_at,
    InstanceRow.terminated_at,
    InstanceRow.vanished,
    InstanceRow.scan_started_at,
    InstanceRow.scan_outcome,
    InstanceRow.scan_reason,
    InstanceRow.last_scanned_at,
    InstanceRow.inventory_hash,
    InstanceRow.closed_reason,
)
_KEYS_PER_QUERY = 500


class Descriptions:
    """Instances parsed from their stored descriptions, each kept until it changes (its `revision`):
    listing a fleet of 10,000 instances again parses only what discovery changed meanwhile."""

    def __init__(self, size: int = 200_000) -> None:
        self._parsed: dict[tuple[str, str], tuple[int, Instance]] = {}
        self._size = size
        self._lock = threading.Lock()

    def of(self, session: Session, wanted: dict[tuple[str, str], int]) -> dict[tuple[str, str], Instance]:
        """The instances `wanted` names, at the given revisions (or later ones)."""
        with self._lock:
            cached = {key: self._parsed.get(key) for key in wanted}
        found = {key: hit[1] for key, hit in cached.items() if hit is not None and hit[0] == wanted[key]}
        missing = sorted(key for key in wanted if key not in found)
        parsed = []
        for start in range(0, len(missing), _KEYS_PER_QUERY):
            chunk = missing[start : start + _KEYS_PER_QUERY]
            rows = session.execute(
                select(
                    InstanceRow.account_id,
                    InstanceRow.instance_id,
                    InstanceRow.revision,
                    InstanceRow.description,
                ).where(tuple_(InstanceRow.account_id, InstanceRow.instance_id).in_(chunk))
            )
            for account_id, instance_id, revision, description in rows:
                instance = instance_from_json(description)
                found[(account_id, instance_id)] = instance
                parsed.append(((account_id, instance_id), (revision, instance)))
        with self._lock:
            if len(self._parsed) + len(parsed) > self._size:
                self._parsed.clear()  # instances purged long ago: start again rather than track them
            self._parsed.update(parsed)
        return found


def instances_of(
    session: Session,
    account_ids: Collection[str],
    *,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
    instance_ids: Collection[str] | None = None,
    state: str | None = None,
    descriptions: Descriptions | None = None,
) -> list[InstanceRecord]:
    """The accounts' instances (in this state) in (account, instance id) order, from after `after`."""
    query = select(*_RECORD_COLUMNS).where(InstanceRow.account_id.in_(sorted(account_ids)))
    if state is not None:
        query = query.where(InstanceRow.state == state)
    if instance_ids is not None:
        query = query.where(InstanceRow.instance_id.in_(sorted(instance_ids)))
    if after is not None:
        query = query.where(tuple_(InstanceRow.account_id, InstanceRow.instance_id) > after)
    query = query.order_by(InstanceRow.account_id, InstanceRow.instance_id)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    keys = {(r.account_id, r.instance_id): r for r in rows}
    instances = (descriptions or Descriptions()).of(session, {key: r.revision for key, r in keys.items()})
    return [
        InstanceRecord(
            instances[key],
            r.first_seen_at,
            r.changed_at,
            r.terminated_at,
            r.vanished,
            r.scan_started_at,
            r.scan_outcome,
            r.scan_reason,
            r.last_scanned_at,
            r.inventory_hash,
            r.closed_reason,
        )
        for key, r in keys.items()
        if key in instances  # not purged meanwhile
    ]
