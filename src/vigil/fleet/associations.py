"""Associations (DESIGN §3.2): the collection configuration an account's agents follow, as Inspector's SSM
associations name it. Inspector's six (owner "inspector") are created when EC2 scanning is enabled,
re-created at the next reconcile when deleted, and deleted when it is disabled; an account's own ("user")
associations are kept until the account deletes them.

An account's inventory association that targets all instances (`InstanceIds=*`) replaces Inspector's
inventory association: while it exists Inspector's is not created (and is deleted when the user's is made).

Schedules are SSM's rate expressions, at least 30 minutes (SSM's minimum for an association, and deep
inspection's, DESIGN §3.2); cron expressions are not supported.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from vigil.agent.protocol import (
    INVENTORY,
    INVENTORY_ASSOCIATION,
    INVENTORY_DOCUMENT,
    LINUX_DISTRIBUTOR,
    LINUX_PLUGIN,
    PLUGIN_DOCUMENT,
    SYNC_ASSOCIATION,
    WINDOWS_DISTRIBUTOR,
    WINDOWS_PLUGIN,
    parse_rate,
)
from vigil.clock import Clock, system_clock
from vigil.store.agents import AssociationRow
from vigil.store.engine import transaction

INSPECTOR = "inspector"
USER = "user"
# Vigil does not follow each instance's runs of an association: a stored association is delivered to the
# account's agents at their next heartbeat, which is all "Success" claims
SUCCESS = "Success"
MIN_SCHEDULE_SECONDS = 30 * 60
MAX_TARGETS = 5
MAX_TARGET_VALUES = 50
MAX_PARAMETERS_BYTES = 4096
NAME = re.compile(r"^[A-Za-z0-9_.-]{3,128}$")  # SSM's association names
DOCUMENT = re.compile(r"^[A-Za-z0-9_.:/-]{3,128}$")  # SSM's document names
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

ALL_INSTANCES: list[dict[str, Any]] = [{"Key": "InstanceIds", "Values": ["*"]}]
LINUX: list[dict[str, Any]] = [{"Key": "PlatformTypes", "Values": ["Linux"]}]
WINDOWS: list[dict[str, Any]] = [{"Key": "PlatformTypes", "Values": ["Windows"]}]
DISTRIBUTOR_DOCUMENT = "AWS-ConfigureAWSPackage"
SYNC_DOCUMENT = "AWS-ResourceDataSync"
WINDOWS_PLUGIN_DOCUMENT = "AmazonInspector2-InvokeInspectorSsmPlugin"


@dataclass(frozen=True, slots=True)
class Spec:
    """One of Inspector's associations as `ensure` creates it."""

    name: str
    document: str
    schedule_expression: str | None
    targets: Sequence[Mapping[str, Any]]
    parameters: Mapping[str, Any]


INSPECTOR_ASSOCIATIONS = (
    Spec(INVENTORY_ASSOCIATION, INVENTORY_DOCUMENT, "rate(30 minutes)", ALL_INSTANCES,
         {"applications": "Enabled"}),
    # delivery has no schedule of its own: an inventory goes to the server when it is collected
    Spec(SYNC_ASSOCIATION, SYNC_DOCUMENT, None, ALL_INSTANCES, {"destination": INVENTORY}),
    # the distributors keep deep inspection's plugin installed and enabled (Vigil's agent carries it: while
    # the Linux distributor exists, the plugin association is invoked); twice a day, a Vigil choice
    Spec(LINUX_DISTRIBUTOR, DISTRIBUTOR_DOCUMENT, "rate(12 hours)", LINUX,
         {"action": "Install", "name": "AmazonInspector2-InspectorLinuxSsmPlugin"}),
    Spec(LINUX_PLUGIN, PLUGIN_DOCUMENT, "rate(6 hours)", LINUX, {}),
    Spec(WINDOWS_DISTRIBUTOR, DISTRIBUTOR_DOCUMENT, "rate(12 hours)", WINDOWS,
         {"action": "Install", "name": "AmazonInspector2-InspectorSsmPlugin"}),
    Spec(WINDOWS_PLUGIN, WINDOWS_PLUGIN_DOCUMENT, "rate(6 hours)", WINDOWS, {}),
)  # fmt: skip
INSPECTOR_NAMES = frozenset(spec.name for spec in INSPECTOR_ASSOCIATIONS)


class InvalidAssociation(ValueError):
    """A member of the request that is wrong, named as the request names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NoSuchAssociation(LookupError):
    """The account has no association of this name."""


@dataclass(frozen=True, slots=True)
class Association:
    account_id: str
    name: str
    document: str
    schedule_expression: str | None
    targets: list[dict[str, Any]]
    parameters: dict[str, Any]
    owner: str  # inspector | user
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "name": self.name,
            "document": self.document,
            "scheduleExpression": self.schedule_expression,
            "targets": self.targets,
            "parameters": self.parameters,
            "status": self.status,
            "owner": self.owner,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


class AssociationsService:
    """The accounts' associations, in the fleet store."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self._sessions = sessions
        self._clock = clock

    # EC2 scanning enabled and disabled

    def ensure(self, account_id: str) -> list[str]:
        """Create the account's missing Inspector associations; the names created."""
        with transaction(self._sessions) as session:
            return self._ensure(session, [account_id]).get(account_id, [])

    def remove(self, account_id: str) -> list[str]:
        """Delete the account's Inspector associations (EC2 scanning disabled); its own stay. The names."""
        with transaction(self._sessions) as session:
            deleted = session.scalars(
                delete(AssociationRow)
                .where(AssociationRow.account_id == account_id, AssociationRow.owner == INSPECTOR)
                .returning(AssociationRow.name)
            )
            return sorted(deleted)

    def reconcile(self, enabled_account_ids: Iterable[str]) -> dict[str, list[str]]:
        """Create what is missing for the accounts with EC2 scanning enabled, delete Inspector's associations
        of every other account; the names created (re-created when deleted), by account."""
        enabled = sorted(set(enabled_account_ids))
        with transaction(self._sessions) as session:
            session.execute(
                delete(AssociationRow).where(
                    AssociationRow.owner == INSPECTOR, AssociationRow.account_id.not_in(enabled)
                )
            )
            return self._ensure(session, enabled)

    def _ensure(self, session: Session, account_ids: Sequence[str]) -> dict[str, list[str]]:
        existing = session.execute(
            select(
                AssociationRow.account_id,
                AssociationRow.name,
                AssociationRow.owner,
                AssociationRow.document,
                AssociationRow.targets,
            ).where(AssociationRow.account_id.in_(account_ids))
        ).all()
        present = {(account, name) for account, name, *_ in existing}
        replaced = {
            account
            for account, _, owner, document, targets in existing
            if owner == USER and _replaces_inventory(document, targets)
        }
        now = self._clock()
        created: dict[str, list[str]] = {}
        for account_id in account_ids:
            for spec in INSPECTOR_ASSOCIATIONS:
                if (account_id, spec.name) in present:
                    continue
                if spec.name == INVENTORY_ASSOCIATION and account_id in replaced:
                    continue
                if _insert_new(session, _row(account_id, spec, now)):
                    created.setdefault(account_id, []).append(spec.name)
        return created

    # the Vigil API

    def associations(self, account_ids: Iterable[str]) -> list[Association]:
        """The associations of these accounts, in (account, name) order."""
        query = select(AssociationRow).where(AssociationRow.account_id.in_(sorted(set(account_ids))))
        with self._sessions() as session:
            rows = session.scalars(query).all()
        # sorted here: the backends' collations order names differently
        return [_association(row) for row in sorted(rows, key=lambda r: (r.account_id, r.name))]

    def put(
        self,
        account_id: str,
        name: str,
        *,
        schedule_expression: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        document: str | None = None,
        targets: Sequence[Any] | None = None,
    ) -> Association:
        """Change an association's schedule or parameters (a user's also its targets), or create a user
        association: a name the account does not have, with `document` and `targets`.

        Inspector's names are reserved: one that was deleted is not found here (reconcile re-creates it).
        """
        if schedule_expression is not None:
            schedule_expression = _schedule(schedule_expression)
        checked_parameters = _parameters(parameters) if parameters is not None else None
        checked_targets = _targets(targets) if targets is not None else None
        now = self._clock()
        with transaction(self._sessions) as session:
            row = session.get(AssociationRow, (account_id, name))
            if row is None:
                if name in INSPECTOR_NAMES:
                    raise NoSuchAssociation(
                        f"account {account_id} has no association {name}: Inspector's associations are "
                        "re-created while EC2 scanning is enabled, not by the account"
                    )
                if document is None or checked_targets is None:
                    raise NoSuchAssociation(
                        f"account {account_id} has no association {name} (give document and targets to "
                        "create one)"
                    )
                row = _new_user_association(
                    account_id, name, document, checked_targets, schedule_expression, checked_parameters, now
                )
                session.add(row)
            else:
                _change(row, schedule_expression, checked_parameters, document, checked_targets, now)
            if row.owner == USER and _replaces_inventory(row.document, row.targets):
                inspectors = session.get(AssociationRow, (account_id, INVENTORY_ASSOCIATION))
                if inspectors is not None:
                    session.delete(inspectors)
            session.flush()
            return _association(row)

    def delete(self, account_id: str, name: str) -> None:
        """Delete one association, Inspector's (re-created at the next reconcile) or the account's own."""
        with transaction(self._sessions) as session:
            row = session.get(AssociationRow, (account_id, name))
            if row is None:
                raise NoSuchAssociation(f"account {account_id} has no association {name}")
            session.delete(row)

    # what the account's agents do (the agent heartbeat)

    def collection(
        self, account_id: str, *, deep_inspection: bool, custom_paths: Sequence[str] = ()
    ) -> dict[str, Any]:
        """What the account's agents collect, and how often (seconds):
        `{"os": {"every"} | None, "full": {"every", "paths"} | None}`.

        `os` follows the inventory association in effect (the account's own `InstanceIds=*` one, else
        Inspector's); `full` the Linux plugin association, invoked only while deep inspection is activated
        and both it and the Linux distributor exist. `paths` are the custom paths: the agent adds the
        default ones (DESIGN §3.3).
        """
        with self._sessions() as session:
            rows = {r.name: r for r in session.scalars(_of_account(account_id))}
        inventory = _inventory_in_effect(list(rows.values()))
        plugin = rows.get(LINUX_PLUGIN)
        invoked = deep_inspection and plugin is not None and LINUX_DISTRIBUTOR in rows
        os_every = _every(inventory)
        full_every = _every(plugin) if invoked else None
        return {
            "os": {"every": os_every} if os_every else None,
            "full": {"every": full_every, "paths": list(custom_paths)} if full_every else None,
        }

    def delivered(
        self, account_id: str, *, instance_id: str | None = None, platform: str = "Linux"
    ) -> list[dict[str, Any]]:
        """The account's associations that target this instance, as the heartbeat lists them.

        An association targets it when each of its targets does: `InstanceIds` with `*` or its id,
        `PlatformTypes` with its platform. Tag and resource-group targets are not evaluated yet: they match
        nothing.
        """
        with self._sessions() as session:
            rows = sorted(session.scalars(_of_account(account_id)), key=lambda r: r.name)
        return [
            {
                "name": r.name,
                "document": r.document,
                "scheduleExpression": r.schedule_expression,
                "parameters": r.parameters,
            }
            for r in rows
            if all(_targets_instance(t, instance_id, platform) for t in r.targets)
        ]


# the rules


def _replaces_inventory(document: str, targets: Sequence[Any]) -> bool:
    """An account's own inventory association that targets all instances replaces Inspector's."""
    return document == INVENTORY_DOCUMENT and list(targets) == ALL_INSTANCES


def _inventory_in_effect(rows: Sequence[AssociationRow]) -> AssociationRow | None:
    own = sorted(
        (r for r in rows if r.owner == USER and _replaces_inventory(r.document, r.targets)),
        key=lambda r: (r.created_at, r.name),
    )
    if own:
        return own[0]
    return next((r for r in rows if r.name == INVENTORY_ASSOCIATION and r.owner == INSPECTOR), None)


def _every(row: AssociationRow | None) -> int | None:
    if row is None or row.schedule_expression is None:
        return None
    return max(parse_rate(row.schedule_expression).seconds, MIN_SCHEDULE_SECONDS)


def _targets_instance(target: Mapping[str, Any], instance_id: str | None, platform: str) -> bool:
    values = target.get("Values", [])
    if target.get("Key") == "InstanceIds":
        return "*" in values or (instance_id is not None and instance_id in values)
    if target.get("Key") == "PlatformTypes":
        return platform in values
    return False


def _schedule(expression: str) -> str:
    try:
        rate = parse_rate(expression)
    except ValueError as exc:
        raise InvalidAssociation("scheduleExpression", str(exc)) from None
    if rate.seconds < MIN_SCHEDULE_SECONDS:
        raise InvalidAssociation(
            "scheduleExpression", f"{expression!r}: an association runs at most every 30 minutes"
        )
    return expression.strip()


def _targets(targets: Sequence[Any]) -> list[dict[str, Any]]:
    """SSM's targets: 1 to 5 of `{"Key": str, "Values": [str, …]}`."""
    if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS:
        raise InvalidAssociation("targets", f"1 to {MAX_TARGETS} targets")
    checked = []
    for target in targets:
        key = target.get("Key") if isinstance(target, dict) else None
        values = target.get("Values") if isinstance(target, dict) else None
        valid = (
            set(target) == {"Key", "Values"}
            and isinstance(key, str)
            and 1 <= len(key) <= 163
            and isinstance(values, list)
            and 1 <= len(values) <= MAX_TARGET_VALUES
            and all(isinstance(v, str) and 1 <= len(v) <= 256 for v in values)
        )
        if not valid:
            raise InvalidAssociation(
                "targets", f'each target is {{"Key": name, "Values": [1 to {MAX_TARGET_VALUES} strings]}}'
            )
        checked.append({"Key": target["Key"], "Values": list(target["Values"])})
    return checked


def _parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A document's parameters: names to a string or a list of strings, a few KiB at most."""
    for name, value in parameters.items():
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            raise InvalidAssociation(
                "parameters", f"{name!r}: a parameter name is 1 to 64 of A-Z a-z 0-9 _ . -"
            )
        if not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            raise InvalidAssociation(
                "parameters", f"{name}: a parameter's value is a string or a list of them"
            )
    if len(json.dumps(parameters)) > MAX_PARAMETERS_BYTES:
        raise InvalidAssociation("parameters", f"at most {MAX_PARAMETERS_BYTES} bytes of parameters")
    return copy.deepcopy(dict(parameters))


def _new_user_association(
    account_id: str,
    name: str,
    document: str,
    targets: list[dict[str, Any]],
    schedule_expression: str | None,
    parameters: dict[str, Any] | None,
    now: dt.datetime,
) -> AssociationRow:
    if not NAME.match(name):
        raise InvalidAssociation("name", f"{name!r}: an association name is 3 to 128 of A-Z a-z 0-9 _ . -")
    if not DOCUMENT.match(document):
        raise InvalidAssociation(
            "document", f"{document!r}: a document name is 3 to 128 of A-Z a-z 0-9 _ . : / -"
        )
    if document == INVENTORY_DOCUMENT and schedule_expression is None:
        raise InvalidAssociation(
            "scheduleExpression", f"an association of {INVENTORY_DOCUMENT} has a schedule"
        )
    return AssociationRow(
        account_id=account_id,
        name=name,
        document=document,
        schedule_expression=schedule_expression,
        targets=targets,
        parameters=parameters or {},
        owner=USER,
        created_at=now,
        updated_at=now,
    )


def _change(
    row: AssociationRow,
    schedule_expression: str | None,
    parameters: dict[str, Any] | None,
    document: str | None,
    targets: list[dict[str, Any]] | None,
    now: dt.datetime,
) -> None:
    """Apply an update to an existing association; Inspector's keep their document, targets and (the
    inventory delivery) having no schedule."""
    if schedule_expression is None and parameters is None and targets is None:
        raise InvalidAssociation(
            "scheduleExpression", "nothing to update: give scheduleExpression or parameters"
        )
    if document is not None and document != row.document:
        raise InvalidAssociation(
            "document", "an association's document does not change: delete it, create another"
        )
    if targets is not None and targets != row.targets and row.owner == INSPECTOR:
        raise InvalidAssociation("targets", f"{row.name} targets what Inspector's association does")
    if schedule_expression is not None and row.schedule_expression is None and row.owner == INSPECTOR:
        raise InvalidAssociation(
            "scheduleExpression", f"{row.name} has no schedule: it delivers what is collected"
        )
    if schedule_expression is not None:
        row.schedule_expression = schedule_expression
    if parameters is not None:
        row.parameters = parameters
    if targets is not None:
        row.targets = targets
    row.updated_at = now


def _row(account_id: str, spec: Spec, now: dt.datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "name": spec.name,
        "document": spec.document,
        "schedule_expression": spec.schedule_expression,
        "targets": copy.deepcopy(list(spec.targets)),
        "parameters": copy.deepcopy(dict(spec.parameters)),
        "owner": INSPECTOR,
        "created_at": now,
        "updated_at": now,
    }


def _insert_new(session: Session, values: dict[str, Any]) -> bool:
    """Insert the row unless one with its key exists (a concurrent `ensure` made it): whether it was."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = session.execute(
        dialect.insert(AssociationRow).values(values).on_conflict_do_nothing().returning(AssociationRow.name)
    )
    return inserted.scalar_one_or_none() is not None


def _of_account(account_id: str) -> Select[AssociationRow]:
    return select(AssociationRow).where(AssociationRow.account_id == account_id)


def _association(row: AssociationRow) -> Association:
    return Association(
        row.account_id,
        row.name,
        row.document,
        row.schedule_expression,
        copy.deepcopy(row.targets),
        copy.deepcopy(row.parameters),
        row.owner,
        SUCCESS,
        row.created_at,
        row.updated_at,
    )
