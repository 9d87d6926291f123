"""Activations (like SSM hybrid activations): an account makes one, agents register with its id and code.

The code is shown once, at creation; the store keeps its SHA-256 (the code is 20 random characters: a
plain digest is enough, nobody guesses it). An activation allows `registrationLimit` registrations until
it expires or is deleted; deleting it stops new registrations, not the agents already registered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import Clock
from vigil.store.agents import ActivationRow
from vigil.store.engine import transaction

DEFAULT_EXPIRY = dt.timedelta(hours=24)
MAX_EXPIRY = dt.timedelta(days=30)  # SSM's bound
MAX_REGISTRATIONS = 1000  # SSM's bound
MAX_TAGS = 50
CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 20


class ActivationError(ValueError):
    """A value of the request cannot make an activation (`field` names it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class NewActivation:
    activation_id: str
    activation_code: str  # shown once

    def to_json(self) -> dict[str, str]:
        return {"activationId": self.activation_id, "activationCode": self.activation_code}


@dataclass(frozen=True, slots=True)
class Activation:
    activation_id: str
    account_id: str
    registration_limit: int
    registrations: int
    expires_at: dt.datetime
    default_instance_name: str | None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    deleted: bool = False

    @classmethod
    def of(cls, row: ActivationRow) -> Activation:
        return cls(
            row.activation_id, row.account_id, row.registration_limit, row.registrations, row.expires_at,
            row.default_instance_name, dict(row.tags), row.created_at, row.deleted_at is not None,
        )  # fmt: skip

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "activationId": self.activation_id,
            "accountId": self.account_id,
            "registrationLimit": self.registration_limit,
            "registrationsCount": self.registrations,
            "expirationDate": self.expires_at.isoformat(),
            "expired": self.expired(now),
            "defaultInstanceName": self.default_instance_name,
            "tags": dict(self.tags),
            "createdDate": self.created_at.isoformat() if self.created_at else None,
        }


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class ActivationsService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def create(
        self,
        account_id: str,
        *,
        registration_limit: int = 1,
        expiration_date: dt.datetime | None = None,
        default_instance_name: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> NewActivation:
        """A new activation of the account (`ActivationError` on a value it cannot take)."""
        now = self.clock()
        expires = expiration_date or now + DEFAULT_EXPIRY
        if expires.tzinfo is None:
            raise ActivationError("expirationDate", "give a time zone (e.g. 2026-12-31T00:00:00Z)")
        if not now < expires <= now + MAX_EXPIRY:
            raise ActivationError("expirationDate", "must be in the future and at most 30 days away")
        if not 1 <= registration_limit <= MAX_REGISTRATIONS:
            raise ActivationError("registrationLimit", f"must be from 1 to {MAX_REGISTRATIONS}")
        tags = dict(tags or {})
        if len(tags) > MAX_TAGS:
            raise ActivationError("tags", f"at most {MAX_TAGS} tags")
        for key, value in tags.items():
            if not 1 <= len(key) <= 128 or len(value) > 256:
                raise ActivationError("tags", f"{key[:40]!r}: a key has 1-128 characters, a value up to 256")
        if default_instance_name is not None and not 1 <= len(default_instance_name) <= 256:
            raise ActivationError("defaultInstanceName", "1 to 256 characters")
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        activation_id = str(uuid.uuid4())
        with transaction(self.sessions) as session:
            session.add(
                ActivationRow(
                    activation_id=activation_id, account_id=account_id, code_digest=code_digest(code),
                    registration_limit=registration_limit, registrations=0, expires_at=expires,
                    default_instance_name=default_instance_name, tags=tags, created_at=now, deleted_at=None,
                )
            )  # fmt: skip
        return NewActivation(activation_id, code)

    def list(self, account_ids: Collection[str]) -> list[Activation]:
        """The accounts' activations not deleted, newest first."""
        query = (
            select(ActivationRow)
            .where(ActivationRow.account_id.in_(sorted(account_ids)), ActivationRow.deleted_at.is_(None))
            .order_by(ActivationRow.created_at.desc(), ActivationRow.activation_id)
        )
        with self.sessions() as session:
            return [Activation.of(row) for row in session.scalars(query)]

    def delete(self, account_ids: Collection[str], activation_id: str) -> Activation:
        """Delete one (LookupError when these accounts have no such activation)."""
        with transaction(self.sessions) as session:
            row = session.get(ActivationRow, activation_id)
            if row is None or row.account_id not in account_ids or row.deleted_at is not None:
                raise LookupError(f"no activation {activation_id}")
            row.deleted_at = self.clock()
            return Activation.of(row)
