"""The agent's main loop: heartbeats, the two collection schedules, collections on package changes, and the
delivery of what was collected, one step at a time.

Everything that takes time or talks is given to the constructor (the clock, the server client, the
collector, the watcher the loop waits on), so tests drive the loop without real time or a real server.

Delivery keeps at most one inventory per kind: a newer collection replaces the pending one, which stays on
disk until the server accepts it, so a restart loses nothing. An inventory is sent as a diff against the
last accepted one when that is smaller, and as `unchanged` when the server already has its content.

Each heartbeat carries the network report (`listening`): whole when it differs from the one the server
said it holds, its digest otherwise; a report the server refused is not sent again until it changes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import vigil
from vigil.agent import protocol
from vigil.agent.backoff import Backoff
from vigil.agent.collect import CollectionConfig, Interrupted
from vigil.agent.listening import NetworkReport
from vigil.agent.state import KINDS, Identity, StateDir, StateError, StoredInventory
from vigil.agent.transport import CertificateError, ServerError, TransportError
from vigil.agent.watch import Debounce, Watcher

HEARTBEAT_SECONDS = 60.0
MAX_REFUSALS = (
    5  # consecutive refusals of the agent itself (signature, identity, certificate) before it stops
)
_RESEND_WHOLE = frozenset({"BaseMismatch", "UnknownContent"})
_REFUSED_AGENT = frozenset({"InvalidSignature", "UnknownAgent"})
_RETRIED_STATUSES = frozenset({401, 408, 425, 429})  # and every 5xx

log = logging.getLogger("vigil.agent")


class AgentFatal(Exception):
    """The agent cannot go on (the server keeps refusing it, or its state cannot be written)."""


class Client(Protocol):
    """The signed calls to the server (`transport.AgentClient`)."""

    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    def inventory(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    def rotate(self) -> str: ...

    def use_secret(self, secret: str) -> None: ...


class Collector(Protocol):
    """`collect.InventoryCollector`."""

    def collect(
        self, kind: str, paths: Sequence[str] = (), should_stop: Callable[[], bool] = ...
    ) -> StoredInventory: ...


class NetworkSource(Protocol):
    """`listening.NetworkReporter`."""

    def report(self) -> NetworkReport: ...


class AgentRunner:
    """One registered agent's loop. `run()` until `stop()`; `step()` and `wait()` are its two halves."""

    def __init__(
        self,
        *,
        identity: Identity,
        state: StateDir,
        client: Client,
        collector: Collector,
        watcher: Watcher,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        heartbeat_every: float = HEARTBEAT_SECONDS,
        debounce: Debounce | None = None,
        max_refusals: int = MAX_REFUSALS,
        network: NetworkSource | None = None,
    ) -> None:
        self.identity = identity
        self.state = state
        self.client = client
        self.collector = collector
        self.watcher = watcher
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.heartbeat_every = heartbeat_every
        self.debounce = debounce or Debounce()
        self.max_refusals = max_refusals
        self.network = network
        self.config = CollectionConfig()  # the defaults until a heartbeat says otherwise
        self.excluded = False
        self.heartbeats = 0  # successful ones
        self.collections: Counter[tuple[str, str]] = Counter()  # (kind, "schedule" | "change")
        self._stopping = False
        self._next_heartbeat = clock()
        self._retry_at = 0.0
        self._refusals = 0
        self._last_collected = state.last_collected()
        self._accepted = {k: a.content_hash for k in KINDS if (a := state.accepted(k)) is not None}
        self._pending = {k for k in KINDS if state.pending(k) is not None}
        self._network_held: str | None = None  # the digest of the network report the server holds
        self._network_refused: str | None = None  # the last one it refused: not sent again

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Until `stop()` (AgentFatal when the server keeps refusing this agent)."""
        log.info("agent %s (instance %s) started", self.identity.agent_id, self.identity.instance_id)
        while not self._stopping:
            self.step()
            if not self._stopping:
                self.wait()
        log.info("agent stopped")

    def stop(self) -> None:
        """Stop after what is being done (safe in a signal handler)."""
        self._stopping = True
        self.watcher.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def step(self) -> None:
        """Do whatever is due now."""
        if self._may_talk() and self.clock() >= self._next_heartbeat:
            self._heartbeat()
        if not self.excluded:
            self._collect_due()
        if self._may_talk() and self._pending and not self.excluded:
            self._deliver()

    def wait(self) -> None:
        """Wait for the next thing due, or a change of the package databases."""
        now = self.clock()
        timeout = max(0.0, min(self.next_wake() - now, self.heartbeat_every))
        if self.watcher.wait(timeout):
            self.debounce.touch(self.clock())

    def next_wake(self) -> float:
        """When the next thing is due (wall-clock seconds)."""
        times = [max(self._next_heartbeat, self._retry_at)]
        if not self.excluded:
            now = self.clock()
            times.extend(self._due(kind, now) for kind in KINDS if self.config.every(kind) is not None)
            if (changed := self.debounce.due()) is not None:
                times.append(changed)
            if self._pending:
                times.append(self._retry_at)
        return min(times)

    def _may_talk(self) -> bool:
        return not self._stopping and self.clock() >= self._retry_at

    # -- heartbeat --------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        payload = {
            "agentVersion": vigil.__version__,
            "inventory": {kind: self._accepted.get(kind) for kind in KINDS},
        }
        report = self._network_report()
        if report is not None:
            known = report.digest in (self._network_held, self._network_refused)
            payload[protocol.NETWORK_MEMBER] = report.member(report.digest if known else self._network_held)
        try:
            answer = self.client.heartbeat(payload)
        except TransportError as exc:
            self._failed("heartbeat", exc)
            return
        if report is not None:
            self._network_answered(report, answer.get(protocol.NETWORK_MEMBER))
        self._succeeded()
        self.heartbeats += 1
        self._next_heartbeat = self.clock() + self.heartbeat_every
        excluded = answer.get("excluded") is True
        if excluded != self.excluded:
            log.info("instance %s %s", self.identity.instance_id, "excluded: collection stops" if excluded
                     else "no longer excluded: collection resumes")  # fmt: skip
            self.excluded = excluded
        try:
            config = CollectionConfig.from_heartbeat(answer.get("collect"))
        except ValueError as exc:
            log.warning("heartbeat: the collection configuration is unusable (%s); keeping the last one", exc)
        else:
            if config != self.config:
                log.info("collection: os every %s s, deep inspection every %s s, custom paths %s",
                         config.os_every, config.full_every, list(config.paths))  # fmt: skip
                self.config = config
        if answer.get("rotateSecret") is True:
            self._rotate()

    def _network_report(self) -> NetworkReport | None:
        """This heartbeat's network report; None while excluded, or when it cannot be made (logged: the
        heartbeat must go on)."""
        if self.network is None or self.excluded:
            return None
        try:
            return self.network.report()
        except Exception:
            log.exception("network report: it could not be made")
            return None

    def _network_answered(self, report: NetworkReport, answer: Any) -> None:
        if not isinstance(answer, dict):
            return  # a server that does not read network reports
        held = answer.get("digest")
        self._network_held = held if isinstance(held, str) else None
        error = answer.get("error")
        if isinstance(error, dict) and self._network_held != report.digest:
            if self._network_refused != report.digest:
                log.warning("network report refused: %s: %s", error.get("code"), error.get("message"))
            self._network_refused = report.digest

    def _rotate(self) -> None:
        try:
            secret = self.client.rotate()
        except TransportError as exc:
            self._failed("secret rotation", exc)
            return
        self.identity = dataclasses.replace(self.identity, secret=secret)
        self.client.use_secret(secret)
        try:
            self.state.save_identity(self.identity)
        except StateError as exc:
            # the server takes the new secret from now on: without it on disk, a restart would fail
            raise AgentFatal(f"the new secret could not be kept: {exc}") from None
        log.info("secret rotated")

    # -- collection -------------------------------------------------------------------------------
    def _due(self, kind: str, now: float) -> float:
        """When this kind is next collected (`now` if it never was, or the clock went back)."""
        every = self.config.every(kind)
        last = self._last_collected.get(kind)
        if every is None:
            return float("inf")
        if last is None or last > now:
            return now
        return last + every

    def _collect_due(self) -> None:
        for kind in KINDS:
            now = self.clock()
            if self.config.every(kind) is not None and now >= self._due(kind, now):
                self._collect(kind, scheduled=True)
        changed = self.debounce.due()
        if changed is not None and self.clock() >= changed:
            self.debounce.clear()
            if self.config.os_every is not None and not self._stopping:
                self._collect(protocol.OS_KIND, scheduled=False)

    def _collect(self, kind: str, *, scheduled: bool) -> None:
        if self._stopping:
            return
        self.collections[kind, "schedule" if scheduled else "change"] += 1
        started = self.clock()
        try:
            inventory = self.collector.collect(kind, self.config.paths, lambda: self._stopping)
        except Interrupted:
            return
        except Exception:  # a collection that fails must not stop the agent: it is tried again on schedule
            log.exception("%s inventory: the collection failed", kind)
            inventory = None
        self._last_collected[kind] = started
        self._keep(self.state.save_last_collected, self._last_collected)
        if inventory is None:
            return
        unchanged = inventory.content_hash == self._accepted.get(kind)
        if unchanged and not scheduled:  # a change that changed nothing the server does not know
            if kind in self._pending:
                self._keep(self.state.drop_pending, kind)
                self._pending.discard(kind)
            return
        self._keep(self.state.set_pending, inventory)
        self._pending.add(kind)
        log.info("%s inventory %s collected (%d packages%s)", kind, inventory.content_hash[:12],
                 len(inventory.document.get("packages", [])), ", unchanged" if unchanged else "")  # fmt: skip

    # -- delivery ---------------------------------------------------------------------------------
    def _deliver(self) -> None:
        for kind in KINDS:
            if kind not in self._pending:
                continue
            pending = self.state.pending(kind)
            if pending is None:
                self._pending.discard(kind)
                continue
            try:
                self._send(pending)
            except TransportError as exc:
                if self._retried(exc):
                    self._failed(f"{kind} inventory", exc)
                    return
                assert isinstance(exc, ServerError)
                log.error("%s inventory %s refused, dropped (it would be refused again): %s",
                          kind, pending.content_hash[:12], exc)  # fmt: skip
                self._keep(self.state.drop_pending, kind)
                self._pending.discard(kind)
                continue
            self._succeeded()

    def _send(self, pending: StoredInventory) -> None:
        kind, content_hash = pending.kind, pending.content_hash
        message = self._message(pending)
        try:
            answer = self.client.inventory(message)
        except ServerError as exc:
            if exc.status != 409 or exc.code not in _RESEND_WHOLE or _is_whole(message):
                raise
            log.info("%s inventory %s: %s, sending it whole", kind, content_hash[:12], exc.code)
            answer = self.client.inventory(_whole(pending))
        if answer.get("accepted") != content_hash:
            raise ServerError(200, "UnexpectedAnswer", f"accepted {answer.get('accepted')!r}")
        self._keep(self.state.mark_accepted, kind)
        self._accepted[kind] = content_hash
        self._pending.discard(kind)
        log.info("%s inventory %s accepted", kind, content_hash[:12])

    def _message(self, pending: StoredInventory) -> dict[str, Any]:
        """The smallest message that delivers `pending`: unchanged, a diff, or the whole inventory."""
        base_hash = self._accepted.get(pending.kind)
        if base_hash == pending.content_hash:
            return {"kind": pending.kind, "contentHash": pending.content_hash, "unchanged": True}
        base = self.state.accepted(pending.kind) if base_hash is not None else None
        packages = pending.document.get("packages")
        if base is None or not isinstance(packages, list):
            return _whole(pending)
        edits = protocol.package_edits(base.document.get("packages") or [], packages)
        if protocol.diff_size(edits) >= len(packages) / 2:
            return _whole(pending)
        document = {k: v for k, v in pending.document.items() if k != "packages"}
        return {
            "kind": pending.kind,
            "contentHash": pending.content_hash,
            "base": base.content_hash,
            "document": document,
            "packageEdits": edits,
        }

    # -- failures ---------------------------------------------------------------------------------
    def _retried(self, exc: TransportError) -> bool:
        """Whether the request may succeed later (else the inventory is refused for what it is)."""
        if not isinstance(exc, ServerError):
            return True
        return exc.status >= 500 or exc.status in _RETRIED_STATUSES

    def _failed(self, what: str, exc: TransportError) -> None:
        """Back off; stop the agent when the server keeps refusing the agent itself."""
        delay = self.backoff.next_delay()
        self._retry_at = self.clock() + delay
        if isinstance(exc, ServerError) and exc.code == "RequestTimeTooSkewed":
            log.error("%s: this machine's clock differs from the server's by more than 5 minutes; fix the "
                      "time (NTP). Retrying in %.0f s", what, delay)  # fmt: skip
            return
        refused = isinstance(exc, CertificateError) or (
            isinstance(exc, ServerError) and exc.code in _REFUSED_AGENT
        )
        if not refused:
            log.warning("%s: %s; retrying in %.0f s", what, exc, delay)
            return
        self._refusals += 1
        log.error("%s: %s (%d of %d)", what, exc, self._refusals, self.max_refusals)
        if self._refusals >= self.max_refusals:
            raise AgentFatal(f"the server refuses this agent: {exc}")

    def _succeeded(self) -> None:
        self.backoff.reset()
        self._retry_at = 0.0
        self._refusals = 0

    def _keep(self, write: Callable[[Any], None], argument: Any) -> None:
        """Write to the state directory. When it cannot be written (a full disk), the agent goes on with
        what it has in memory: heartbeats go on and the next collection tries again."""
        try:
            write(argument)
        except StateError as exc:
            log.error("the state directory: %s", exc)


def _is_whole(message: dict[str, Any]) -> bool:
    return "document" in message and "packageEdits" not in message


def _whole(pending: StoredInventory) -> dict[str, Any]:
    return {"kind": pending.kind, "contentHash": pending.content_hash, "document": pending.document}
