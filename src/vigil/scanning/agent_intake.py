"""Agent-based scanning on the server (DESIGN §3.2): an agent's inventory is taken in, made whole, stored,
evaluated and recorded, and its instance's `lastScannedAt` moves.

An agent sends two kinds of inventory: `os` (OS packages, on the inventory association's schedule and when
its package databases change) and `full` (OS and language packages: deep inspection, on its own schedule).
The instance's inventory is the latest one received, with the language packages of the latest deep
inspection added to an OS-only one while deep inspection is activated. Each kind arrives whole, as a diff
against the last one accepted of that kind (kept in the agent's row), or as "unchanged"; the result must have
the content hash the agent claims, so a repeated or misapplied message changes nothing.

An excluded or terminated instance's inventories are accepted (the next diff needs them) and make no findings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import zlib
from collections.abc import Mapping
from typing import Any

from vigil.agent import protocol
from vigil.findings.evaluate import evaluate
from vigil.fleet.agents import STALE_AFTER, AgentIdentity, AgentRefused
from vigil.fleet.instances import get_instance
from vigil.fleet.model import InstanceState
from vigil.inventory.document import InvalidInventory
from vigil.inventory.model import Inventory
from vigil.scanning.reconcile import reconcile
from vigil.scanning.services import FleetServices
from vigil.store.agents import AgentRow
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow

log = logging.getLogger("vigil.agents")
MAX_PACKAGES = 200_000  # an inventory's packages after a diff is applied (a host has a few thousand)
_HASH = re.compile(r"^[0-9a-f]{64}$")
OS_MANAGER = "OS"


def _compress(document: Mapping[str, Any]) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)


def _expand(blob: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(zlib.decompress(blob))
    return document


def _refused(status: int, code: str, message: str) -> AgentRefused:
    return AgentRefused(status, code, message)


class InventoryIntake:
    """Takes in what agents send (`accept`), on the fleet's services."""

    def __init__(self, services: FleetServices) -> None:
        self.services = services

    def accept(self, identity: AgentIdentity, message: Mapping[str, Any]) -> dict[str, Any]:
        """One inventory message of this agent (`AgentRefused` when it cannot be taken)."""
        named = message.get("instanceId")
        if named is not None and named != identity.instance_id:
            log.warning(
                "agent request refused (CrossInstanceWrite): agent %s of %s sent an inventory for %r",
                identity.agent_id, identity.instance_id, str(named)[:40],
            )  # fmt: skip
            raise _refused(403, "CrossInstanceWrite", "an agent sends its own instance's inventory only")
        kind = message.get("kind")
        if kind not in (protocol.OS_KIND, protocol.FULL_KIND):
            raise _refused(400, "InvalidInventory", "kind: os or full")
        claimed = message.get("contentHash")
        if not isinstance(claimed, str) or not _HASH.match(claimed):
            raise _refused(400, "InvalidInventory", "contentHash: 64 hex digits")
        now = self.services.clock()
        with self.services.sessions() as session:
            agent = session.get(AgentRow, identity.agent_id)
            if agent is None:
                raise _refused(401, "UnknownAgent", "the agent was removed")
            last_hash, last_blob = (
                (agent.os_hash, agent.os_document)
                if kind == protocol.OS_KIND
                else (agent.full_hash, agent.full_document)
            )
            other_blob = agent.full_document if kind == protocol.OS_KIND else agent.os_document
            # the instance is covered agent-based already: its coverage and usage stay as they are
            delivered = agent.inventory_at
            settled = agent.made_hash is not None and delivered is not None and now - delivered < STALE_AFTER
        if claimed == last_hash and last_blob is not None:  # unchanged, or a message sent again
            return self._unchanged(identity, kind, claimed, now)
        if message.get("unchanged"):
            raise _refused(
                409, "UnknownContent", "the server holds no inventory with this hash: send it whole"
            )
        document = self._document(message, last_hash, last_blob)
        try:
            inventory = Inventory.from_json(document)
        except (InvalidInventory, ValueError) as exc:
            raise _refused(400, "InvalidInventory", str(exc)[:512]) from None
        if inventory.content_hash != claimed:
            if "packageEdits" in message:  # applied to another base than the agent's: have it sent whole
                raise _refused(
                    409, "BaseMismatch", "the diff does not give the claimed content: send it whole"
                )
            raise _refused(400, "HashMismatch", "the inventory does not have the claimed content hash")
        other = Inventory.from_json(_expand(other_blob)) if other_blob is not None else None
        self._keep(identity, kind, claimed, inventory, document, now)
        findings = self._evaluate(identity, kind, inventory, other, now, known=claimed, settled=settled)
        return {"accepted": claimed, **findings}

    def _document(self, message: Mapping[str, Any], last_hash: str | None, last_blob: bytes | None) -> Any:
        document = message.get("document")
        if not isinstance(document, dict):
            raise _refused(400, "InvalidInventory", "document: the inventory (an object)")
        if "packageEdits" not in message:
            return document
        if message.get("base") != last_hash or last_blob is None:
            raise _refused(
                409, "BaseMismatch", "the diff's base is not the last inventory accepted: send it whole"
            )
        base = _expand(last_blob).get("packages", [])
        try:
            packages = protocol.apply_edits(base, message["packageEdits"], limit=MAX_PACKAGES)
        except ValueError as exc:
            raise _refused(400, "InvalidInventory", str(exc)) from None
        return {**document, "packages": packages}

    def _keep(
        self,
        identity: AgentIdentity,
        kind: str,
        content_hash: str,
        inventory: Inventory,
        document: Any,
        now: dt.datetime,
    ) -> None:
        """The agent's latest inventory of this kind: the base of its next diff, and its delivery time."""
        with transaction(self.services.sessions) as session:
            agent = session.get(AgentRow, identity.agent_id)
            if agent is None:
                raise _refused(401, "UnknownAgent", "the agent was removed")
            blob = _compress(document)
            if kind == protocol.OS_KIND:
                agent.os_hash, agent.os_document, agent.os_at = content_hash, blob, now
            else:
                agent.full_hash, agent.full_document, agent.full_at = content_hash, blob, now
                agent.full_limits = sorted({hit.limit for hit in inventory.limits_hit})
            agent.inventory_at = agent.last_seen_at = now

    def _unchanged(
        self, identity: AgentIdentity, kind: str, content_hash: str, now: dt.datetime
    ) -> dict[str, Any]:
        """The same inventory again: a delivery (the inventory is fresh), and the same findings, evaluated
        again only when the instance's findings do not come from it (closed, or an agentless scan's)."""
        with transaction(self.services.sessions) as session:
            agent = session.get(AgentRow, identity.agent_id)
            if agent is None:
                raise _refused(401, "UnknownAgent", "the agent was removed")
            if kind == protocol.OS_KIND:
                agent.os_at = now
            else:
                agent.full_at = now
            agent.inventory_at = agent.last_seen_at = now
            instance = session.get(InstanceRow, (identity.account_id, identity.instance_id))
            current = instance is not None and instance.closed_reason is None and instance.inventory_hash
            if current and instance is not None and _agent_made(agent, instance.inventory_hash):
                instance.last_scanned_at = now
                return {"accepted": content_hash, "unchanged": True}
            blob = agent.os_document if kind == protocol.OS_KIND else agent.full_document
            other = agent.full_document if kind == protocol.OS_KIND else agent.os_document
        inventory = Inventory.from_json(_expand(blob)) if blob is not None else None
        if inventory is None:
            return {"accepted": content_hash, "unchanged": True}
        other_inventory = Inventory.from_json(_expand(other)) if other is not None else None
        return {
            "accepted": content_hash,
            "unchanged": True,
            **self._evaluate(identity, kind, inventory, other_inventory, now),
        }

    def _evaluate(
        self,
        identity: AgentIdentity,
        kind: str,
        inventory: Inventory,
        other: Inventory | None,
        now: dt.datetime,
        *,
        known: str | None = None,
        settled: bool = False,
    ) -> dict[str, Any]:
        """The instance's inventory made, stored, evaluated and recorded (`known`: `inventory`'s hash); its
        coverage and usage brought in line unless the agent's inventories already covered it (`settled`)."""
        services = self.services
        account_id, instance_id = identity.account_id, identity.instance_id
        with services.sessions() as session:
            record = get_instance(session, account_id, instance_id)
        if record is None:
            raise _refused(404, "UnknownInstance", f"instance {instance_id} is no longer known to the server")
        instance = record.instance
        if instance.excluded:
            return {"excluded": True}
        if instance.state is InstanceState.TERMINATED:
            return {"terminated": True}
        deep = services.accounts.deep_inspection_active(account_id)
        if kind == protocol.OS_KIND:
            whole = instance_inventory(inventory, other, kind, deep=deep)
        else:
            whole = instance_inventory(None, inventory, kind, deep=deep)
        content_hash = services.inventories.put(
            whole, now, content_hash=known if whole is inventory else None
        )
        evaluation = evaluate(
            whole, services.advisories, now=now, account_id=account_id, resource_id=instance_id,
            region=services.region,
        )  # fmt: skip
        services.findings.record(instance, evaluation, now)
        with transaction(services.sessions) as session:
            row = session.get(InstanceRow, (account_id, instance_id))
            if row is not None:
                row.inventory_hash, row.last_scanned_at, row.closed_reason = content_hash, now, None
            agent = session.get(AgentRow, identity.agent_id)
            if agent is not None:
                agent.made_hash = content_hash
        if not (settled and record.closed_reason is None):
            reconcile(
                services.sessions, services.coverage, services.findings, account_id, now,
                instance_ids=[instance_id],
            )  # fmt: skip
        return {"inventoryHash": content_hash, "findings": len(evaluation.findings)}


def _agent_made(agent: AgentRow, content_hash: str | None) -> bool:
    return content_hash is not None and agent.made_hash == content_hash


def instance_inventory(
    os_inventory: Inventory | None, full: Inventory | None, kind: str, *, deep: bool
) -> Inventory:
    """The instance's inventory from its agent's latest of each kind: the one just received, with the
    language packages of the latest deep inspection added to an OS-only one (and none while deep
    inspection is deactivated)."""
    if kind == protocol.FULL_KIND and full is not None:
        base = full
    elif os_inventory is not None:
        base = os_inventory
    else:
        raise ValueError("no inventory of the kind received")
    if not deep:
        return _os_only(base)
    if kind == protocol.FULL_KIND or full is None:
        return base
    names = {run.name for run in base.extractors}
    return dataclasses.replace(
        base,
        packages=base.packages + tuple(p for p in full.packages if p.package_manager != OS_MANAGER),
        extractors=base.extractors + tuple(run for run in full.extractors if run.name not in names),
        scope=full.scope,
        limits_hit=full.limits_hit,
    )


def _os_only(inventory: Inventory) -> Inventory:
    if all(p.package_manager == OS_MANAGER for p in inventory.packages):
        return inventory
    packages = tuple(p for p in inventory.packages if p.package_manager == OS_MANAGER)
    return dataclasses.replace(inventory, packages=packages, limits_hit=())
