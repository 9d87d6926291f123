"""Fakes for driving `AgentRunner` without real time, a real server or a real collection."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from vigil.agent import protocol
from vigil.agent.state import Identity, StoredInventory
from vigil.agent.transport import ServerError, TransportError, Unreachable

IDENTITY = Identity(
    "agent-1", "i-0123456789abcdef0", "111122223333", "s3cret", "https://127.0.0.1:8443", "ab" * 32
)


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeWatcher:
    """Waits by moving the clock; reports the package changes scheduled at given times."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.changes: list[float] = []
        self.waits: list[float] = []
        self.on_wait: Callable[[], None] | None = None

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        if self.on_wait:
            self.on_wait()
        end = self.clock.now + timeout
        upcoming = [t for t in self.changes if self.clock.now < t <= end]
        if upcoming:
            self.clock.now = min(upcoming)
            return True
        self.clock.now = end
        return False

    def wake(self) -> None:
        pass

    def close(self) -> None:
        pass


def document(packages: Sequence[str]) -> dict[str, Any]:
    return {"target": {"kind": "directory"}, "packages": [{"name": p, "version": "1"} for p in packages]}


def content_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class FakeCollector:
    """Collects what `packages[kind]` says the machine holds now."""

    def __init__(self) -> None:
        self.packages: dict[str, list[str]] = {
            "os": ["bash", "coreutils"],
            "full": ["bash", "coreutils", "requests"],
        }
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def collect(
        self, kind: str, paths: Sequence[str] = (), should_stop: Callable[[], bool] = lambda: False
    ) -> StoredInventory:
        self.calls.append((kind, tuple(paths)))
        doc = document(self.packages[kind])
        return StoredInventory(kind, content_hash(doc), doc)


class FakeClient:
    """The server's side of the protocol, in memory; `down` makes every call fail as a network error."""

    def __init__(self) -> None:
        self.heartbeat_answer: dict[str, Any] = {
            "excluded": False, "rotateSecret": False,
            "collect": {"os": {"every": 1800}, "full": {"every": 21600, "paths": []}},
        }  # fmt: skip
        self.down = False
        self.failures: list[TransportError] = []  # raised by the next calls, in order
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.contents: dict[str, dict[str, Any]] = {}
        self.accepted: dict[str, str] = {}
        self.secret = "s3cret"
        self.rotations = 0
        self.attempts = 0

    def _enter(self, name: str, payload: dict[str, Any]) -> None:
        self.attempts += 1
        if self.down:
            raise Unreachable("connection refused")
        self.calls.append((name, payload))
        if self.failures:
            raise self.failures.pop(0)

    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._enter("heartbeat", payload)
        return dict(self.heartbeat_answer)

    def inventory(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._enter("inventory", payload)
        kind, claimed = payload["kind"], payload["contentHash"]
        if payload.get("unchanged"):
            if claimed not in self.contents:
                raise ServerError(409, "UnknownContent", claimed)
        elif "packageEdits" in payload:
            if self.accepted.get(kind) != payload["base"]:
                raise ServerError(409, "BaseMismatch", payload["base"])
            base = self.contents[payload["base"]]["packages"]
            packages = protocol.apply_edits(base, payload["packageEdits"], limit=10_000)
            doc = {**payload["document"], "packages": packages}
            assert content_hash(doc) == claimed
            self.contents[claimed] = doc
        else:
            assert content_hash(payload["document"]) == claimed
            self.contents[claimed] = payload["document"]
        self.accepted[kind] = claimed
        return {"accepted": claimed}

    def rotate(self) -> str:
        self._enter("rotate", {})
        self.rotations += 1
        self.secret = f"new-secret-{self.rotations}"
        return self.secret

    def use_secret(self, secret: str) -> None:
        self.used_secret = secret

    def sent(self, name: str = "inventory") -> list[dict[str, Any]]:
        return [payload for call, payload in self.calls if call == name]
