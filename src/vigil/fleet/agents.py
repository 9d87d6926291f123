"""Agents: registration with an activation, the signature every later request carries, and what the server
knows of each agent (DESIGN §2 managed instances, §7 agent protocol, §9).

Registration binds the agent to the instance its provider already knows when the agent's identity hints
match one (the instance id, or the machine id / DMI product UUID the fleet file names); otherwise the agent's
machine becomes a managed instance `mi-` + 17 hex digits, tagged from the activation. A machine registering
again (a reinstalled agent) replaces its earlier agent.

A signed request is refused when its timestamp is more than 5 minutes from the server's clock, its nonce was
seen before, its signature does not verify with the agent's secret, or its agent is unknown; each refusal is
logged and counted. A rotated secret's predecessor keeps working until the new one is first used, so an
agent that lost the rotation's answer is not locked out.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import secrets
import threading
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vigil.agent import protocol
from vigil.clock import Clock
from vigil.fleet.accounts import Sealer
from vigil.fleet.activations import code_digest
from vigil.fleet.instances import instance_to_json
from vigil.fleet.model import Instance, InstanceState, Platform
from vigil.store.agents import ActivationRow, AgentNonceRow, AgentRow
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow

log = logging.getLogger("vigil.agents")
AGENT_PROVIDER = "agent"  # the provider of managed instances no other provider knows
STALE_AFTER = dt.timedelta(days=7)
NONCES_KEPT = 2 * protocol.MAX_SKEW
_HINT_FIELDS = {"machineId": 64, "productUuid": 64, "hostname": 255, "instanceId": 32}
MAX_ADDRESSES = 32


class AgentRefused(Exception):
    """A request of (or a registration by) an agent is refused: `code` and HTTP `status` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Registration:
    agent_id: str
    account_id: str
    instance_id: str
    secret: str
    bound: bool  # to an instance the provider knows (else a managed instance mi-…)

    def to_json(self) -> dict[str, str]:
        return {
            "agentId": self.agent_id,
            "accountId": self.account_id,
            "instanceId": self.instance_id,
            "secret": self.secret,
        }


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who signed a request: verified."""

    agent_id: str
    account_id: str
    instance_id: str
    rotate: bool = False  # the agent is asked to rotate its secret
    version: str | None = None  # the agent version it last said it runs


@dataclass(frozen=True, slots=True)
class AgentState:
    """What coverage needs of an instance's agent."""

    agent_id: str
    registered_at: dt.datetime
    last_seen_at: dt.datetime
    inventory_at: dt.datetime | None  # its last inventory delivery (of either kind)
    full_at: dt.datetime | None  # its last deep inspection
    full_limits: tuple[str, ...]  # the limits that deep inspection reached
    hints: dict[str, Any] = field(default_factory=dict)  # what it said of its machine, where it came from

    def fresh(self, now: dt.datetime) -> bool:
        return self.inventory_at is not None and now - self.inventory_at < STALE_AFTER

    def to_json(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "agentId": self.agent_id,
            "registeredAt": iso(self.registered_at),
            "lastSeenAt": iso(self.last_seen_at),
            "lastInventoryAt": iso(self.inventory_at),
            "lastDeepInspectionAt": iso(self.full_at),
            "deepInspectionLimits": list(self.full_limits),
            "machine": dict(self.hints),
        }


def agent_states(
    session: Session, account_ids: Collection[str], instance_ids: Collection[str] | None = None
) -> dict[tuple[str, str], AgentState]:
    """Per (account, instance), its agent's state (of these instances only, when given)."""
    query = select(
        AgentRow.account_id, AgentRow.instance_id, AgentRow.agent_id, AgentRow.registered_at,
        AgentRow.last_seen_at, AgentRow.inventory_at, AgentRow.full_at, AgentRow.full_limits, AgentRow.hints,
    ).where(AgentRow.account_id.in_(sorted(account_ids)))  # fmt: skip
    if instance_ids is not None:
        query = query.where(AgentRow.instance_id.in_(sorted(instance_ids)))
    rows = session.execute(query)
    return {
        (r.account_id, r.instance_id): AgentState(
            r.agent_id,
            r.registered_at,
            r.last_seen_at,
            r.inventory_at,
            r.full_at,
            tuple(r.full_limits),
            dict(r.hints),
        )
        for r in rows
    }


class AgentRegistry:
    def __init__(self, sessions: sessionmaker[Session], sealer: Sealer, clock: Clock) -> None:
        self.sessions = sessions
        self.sealer = sealer
        self.clock = clock
        self.refusals: Counter[str] = Counter()
        self._lock = threading.Lock()

    # registration

    def register(
        self,
        activation_id: str,
        activation_code: str,
        *,
        hints: Mapping[str, Any],
        platform: str = "LINUX",
        agent_version: str | None = None,
        source: str | None = None,
    ) -> Registration:
        """Register an agent with an activation (`AgentRefused` when the activation does not allow it);
        `source` is the address the registration came from (kept with the hints, and the managed
        instance's address when the agent named none)."""
        now = self.clock()
        clean = _clean_hints(hints)
        if source and len(source) <= 45:
            clean["sourceAddress"] = source
        try:
            kind = Platform(platform)
        except ValueError:
            raise AgentRefused(
                400, "InvalidPlatform", f"platform {platform!r}: LINUX, WINDOWS or MACOS"
            ) from None
        with transaction(self.sessions) as session:
            activation = session.scalars(
                select(ActivationRow).where(ActivationRow.activation_id == activation_id).with_for_update()
            ).first()
            if activation is None or not hmac.compare_digest(
                activation.code_digest, code_digest(activation_code)
            ):
                self._refused("invalid activation", f"activation {activation_id[:40]!r}")
                raise AgentRefused(403, "InvalidActivation", "no activation with this id and code")
            refusal = _activation_refusal(activation, now)
            if refusal is not None:
                self._refused(refusal.code, f"activation {activation_id}: {refusal.message}")
                raise refusal
            account_id = activation.account_id
            instance_id = _bound_instance(session, account_id, clean)
            bound = instance_id is not None
            if instance_id is None:
                instance_id = _new_managed_instance(session, account_id, activation, kind, clean, now)
            session.execute(
                delete(AgentRow).where(AgentRow.account_id == account_id, AgentRow.instance_id == instance_id)
            )
            agent_id = "agent-" + secrets.token_hex(16)
            secret = secrets.token_urlsafe(32)
            session.add(
                AgentRow(
                    agent_id=agent_id, account_id=account_id, instance_id=instance_id,
                    activation_id=activation_id, sealed_secret=self.sealer.seal(secret, agent_id),
                    previous_secret=None, rotate_requested=False, hints=clean, agent_version=agent_version,
                    registered_at=now, last_seen_at=now, inventory_at=None, os_hash=None, os_at=None,
                    os_document=None, full_hash=None, full_at=None, full_document=None, full_limits=[],
                    made_hash=None,
                )
            )  # fmt: skip
            activation.registrations += 1
        log.info("agent %s registered for %s/%s (%s)", agent_id, account_id, instance_id,
                 "bound" if bound else "managed instance")  # fmt: skip
        return Registration(agent_id, account_id, instance_id, secret, bound)

    # signed requests

    def authenticate(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> AgentIdentity:
        """The agent that signed this request (`AgentRefused` otherwise); its nonce is spent and the agent
        noted alive, in one transaction (a signed request is the only proof of life there is)."""
        now = self.clock()
        agent_id = headers.get(protocol.AGENT_HEADER, "")
        date = headers.get(protocol.DATE_HEADER, "")
        nonce = headers.get(protocol.NONCE_HEADER, "")
        given = headers.get(protocol.SIGNATURE_HEADER, "")
        if not (agent_id and date and nonce and given):
            raise self._refusal(401, "MissingSignature", "unsigned request", agent_id)
        try:
            moment = protocol.parse_date(date)
        except ValueError:
            raise self._refusal(
                401, "InvalidSignature", "x-vigil-date is not a timestamp", agent_id
            ) from None
        if abs(now - moment) > protocol.MAX_SKEW:
            raise self._refusal(
                401, "RequestTimeTooSkewed",
                f"the request's time {moment.isoformat()} is more than 5 minutes from the server's "
                f"{now.isoformat()}", agent_id,
            )  # fmt: skip
        if not protocol.NONCE_PATTERN.match(nonce):
            raise self._refusal(401, "InvalidSignature", "x-vigil-nonce: 32 hex digits", agent_id)
        declared = headers.get(protocol.CONTENT_HEADER)
        if declared is not None and declared != protocol.body_hash(body):
            raise self._refusal(401, "InvalidSignature", "the body does not match its hash", agent_id)
        with transaction(self.sessions) as session:
            row = session.get(AgentRow, agent_id)
            if row is None:
                raise self._refusal(401, "UnknownAgent", "no agent with this id", agent_id)
            secret = self.sealer.unseal(row.sealed_secret, agent_id)
            expected = protocol.signature(secret, method, path, date, nonce, body, agent_id)
            if hmac.compare_digest(expected, given):
                if row.previous_secret is not None:
                    row.previous_secret = None  # the rotated secret is in use: its predecessor retires
            elif row.previous_secret is None or not hmac.compare_digest(
                protocol.signature(
                    self.sealer.unseal(row.previous_secret, agent_id),
                    method,
                    path,
                    date,
                    nonce,
                    body,
                    agent_id,
                ),
                given,
            ):
                raise self._refusal(401, "InvalidSignature", "the signature does not verify", agent_id)
            session.add(AgentNonceRow(agent_id=agent_id, nonce=nonce, seen_at=now))
            try:
                session.flush()
            except IntegrityError:
                raise self._refusal(
                    401, "ReplayedRequest", "this request's nonce was used before", agent_id
                ) from None
            row.last_seen_at = now
            return AgentIdentity(
                row.agent_id, row.account_id, row.instance_id, row.rotate_requested, row.agent_version
            )

    def _refusal(self, status: int, code: str, message: str, agent_id: str) -> AgentRefused:
        self._refused(code, f"agent {agent_id[:48]!r}: {message}")
        return AgentRefused(status, code, message)

    def _refused(self, code: str, detail: str) -> None:
        with self._lock:
            self.refusals[code] += 1
            count = sum(self.refusals.values())
        log.warning("agent request refused (%s): %s [%d refused since start]", code, detail, count)

    # what agents do once authenticated

    def heartbeat(self, identity: AgentIdentity, agent_version: str | None) -> bool:
        """The agent's heartbeat (its request noted it alive): its version kept when it changed; returns
        whether it must rotate its secret."""
        version = agent_version[:32] if agent_version else None
        if version is None or version == identity.version:
            return identity.rotate
        with transaction(self.sessions) as session:
            row = session.get(AgentRow, identity.agent_id)
            if row is None:
                raise AgentRefused(401, "UnknownAgent", "the agent was removed")
            row.agent_version = version
            return row.rotate_requested

    def rotate(self, identity: AgentIdentity) -> str:
        """A new secret for the agent; the current one stays valid until the new one is used."""
        secret = secrets.token_urlsafe(32)
        with transaction(self.sessions) as session:
            row = session.get(AgentRow, identity.agent_id)
            if row is None:
                raise AgentRefused(401, "UnknownAgent", "the agent was removed")
            row.previous_secret = row.sealed_secret
            row.sealed_secret = self.sealer.seal(secret, identity.agent_id)
            row.rotate_requested = False
        log.info("agent %s rotated its secret", identity.agent_id)
        return secret

    def request_rotation(self, account_ids: Collection[str], instance_id: str) -> AgentState:
        """Ask the instance's agent to rotate its secret at its next heartbeat."""
        with transaction(self.sessions) as session:
            row = session.scalars(
                select(AgentRow).where(
                    AgentRow.account_id.in_(sorted(account_ids)), AgentRow.instance_id == instance_id
                )
            ).first()
            if row is None:
                raise LookupError(f"no agent on instance {instance_id}")
            row.rotate_requested = True
            return AgentState(
                row.agent_id, row.registered_at, row.last_seen_at, row.inventory_at, row.full_at,
                tuple(row.full_limits),
            )  # fmt: skip

    def forget_nonces(self, now: dt.datetime) -> int:
        """Delete the nonces old enough that the timestamp check refuses their requests anyway."""
        with transaction(self.sessions) as session:
            result = session.execute(delete(AgentNonceRow).where(AgentNonceRow.seen_at < now - NONCES_KEPT))
            return int(getattr(result, "rowcount", 0) or 0)


def _activation_refusal(activation: ActivationRow, now: dt.datetime) -> AgentRefused | None:
    if activation.deleted_at is not None:
        return AgentRefused(403, "InvalidActivation", "the activation was deleted")
    if now >= activation.expires_at:
        return AgentRefused(403, "ActivationExpired", f"the activation expired at {activation.expires_at}")
    if activation.registrations >= activation.registration_limit:
        limit = activation.registration_limit
        return AgentRefused(
            403, "ActivationLimitExceeded", f"the activation's {limit} registrations are used"
        )
    return None


def _clean_hints(hints: Mapping[str, Any]) -> dict[str, Any]:
    """The identity hints an agent sent, bounded and normalised (nothing else of them is kept)."""
    clean: dict[str, Any] = {}
    for name, limit in _HINT_FIELDS.items():
        value = hints.get(name)
        if isinstance(value, str) and 0 < len(value.strip()) <= limit:
            clean[name] = value.strip().lower() if name != "hostname" else value.strip()
    addresses = hints.get("addresses")
    if isinstance(addresses, list):
        clean["addresses"] = [a for a in addresses if isinstance(a, str) and len(a) <= 45][:MAX_ADDRESSES]
    return clean


def _routable(address: str | None) -> tuple[str, ...]:
    """The address as an instance's own, unless it is none, loopback or not IPv4."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return ()
    return (str(parsed),) if parsed.version == 4 and not parsed.is_loopback else ()


def _bound_instance(session: Session, account_id: str, hints: Mapping[str, Any]) -> str | None:
    """The id of the account's instance (of a provider, not terminated) these hints name, if one does."""
    wanted_id = hints.get("instanceId")
    machine = {hints[k] for k in ("machineId", "productUuid") if k in hints}
    machine |= {m.replace("-", "") for m in machine}
    if wanted_id is None and not machine:
        return None
    rows = session.execute(
        select(InstanceRow.instance_id, InstanceRow.description).where(
            InstanceRow.account_id == account_id,
            InstanceRow.provider != AGENT_PROVIDER,
            InstanceRow.state != InstanceState.TERMINATED.value,
        )
    )
    for instance_id, description in rows:
        named = (description.get("machineId") or "").lower()
        if instance_id == wanted_id or (named and (named in machine or named.replace("-", "") in machine)):
            return str(instance_id)
    return None


def _new_managed_instance(
    session: Session,
    account_id: str,
    activation: ActivationRow,
    platform: Platform,
    hints: Mapping[str, Any],
    now: dt.datetime,
) -> str:
    """A managed instance for an agent no provider knows: `mi-` + 17 hex digits, tagged from the
    activation (its default name as the `Name` tag); the same machine registering again keeps its id."""
    machine = hints.get("machineId") or hints.get("productUuid")
    if machine:
        for instance_id, description in session.execute(
            select(InstanceRow.instance_id, InstanceRow.description).where(
                InstanceRow.account_id == account_id, InstanceRow.provider == AGENT_PROVIDER
            )
        ):
            if description.get("machineId") == machine:
                return str(instance_id)
    instance_id = "mi-" + secrets.token_hex(9)[:17]
    tags = dict(activation.tags)
    if activation.default_instance_name and "Name" not in tags:
        tags["Name"] = activation.default_instance_name
    instance = Instance(
        account_id=account_id,
        instance_id=instance_id,
        state=InstanceState.RUNNING,
        platform=platform,
        ip_v4_addresses=tuple(hints.get("addresses") or _routable(hints.get("sourceAddress"))),
        tags=tags,
        provider=AGENT_PROVIDER,
        machine_id=machine,
    )
    session.add(
        InstanceRow(
            account_id=account_id, instance_id=instance_id, provider=AGENT_PROVIDER,
            state=instance.state.value, description=instance_to_json(instance), first_seen_at=now,
            changed_at=now, terminated_at=None, vanished=False,
        )
    )  # fmt: skip
    return instance_id
