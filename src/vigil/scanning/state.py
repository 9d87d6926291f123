"""What the scheduler remembers across restarts (`fleet_state`): small JSON values by key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from vigil.store.engine import transaction
from vigil.store.fleet import FleetStateRow


def read_state(sessions: sessionmaker[Session], key: str) -> dict[str, Any] | None:
    with sessions() as session:
        row = session.get(FleetStateRow, key)
        return None if row is None else dict(row.value)


def write_state(sessions: sessionmaker[Session], key: str, value: dict[str, Any]) -> None:
    with transaction(sessions) as session:
        row = session.get(FleetStateRow, key)
        if row is None:
            session.add(FleetStateRow(key=key, value=value))
        else:
            row.value = value
