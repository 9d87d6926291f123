"""Putting a registered agent together from its state directory, and running it until a signal."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from vigil.agent.backoff import Backoff
from vigil.agent.collect import InventoryCollector
from vigil.agent.listening import NetworkReporter
from vigil.agent.runner import HEARTBEAT_SECONDS, AgentRunner
from vigil.agent.state import StateDir, StateError
from vigil.agent.transport import AgentClient, Connection, Pin, ServerURL, pinned_context
from vigil.agent.watch import POLL_SECONDS, PollWatcher, Watcher, open_watcher


def open_agent(
    state_dir: Path,
    *,
    root: str = "/",
    heartbeat_every: float = HEARTBEAT_SECONDS,
    poll: bool = False,
    poll_interval: float = POLL_SECONDS,
    clock: Callable[[], float] = time.time,
    backoff: Backoff | None = None,
) -> AgentRunner:
    """The runner of the agent registered in `state_dir`, inventorying `root` (StateError, ValueError when
    it cannot be built). `poll` watches the package databases by polling instead of inotify."""
    if not os.path.isdir(root):
        raise ValueError(f"--root {root}: not a directory")
    root = os.path.abspath(root)
    state = StateDir(state_dir)
    identity = state.load_identity()
    try:
        url = ServerURL.parse(identity.server_url)
    except ValueError as exc:
        raise StateError(f"{state_dir}: the identity's server: {exc}") from None
    if url.scheme == "https" and identity.fingerprint is None:
        raise StateError(f"{state_dir}: no pinned server certificate; register again with --force")
    pin = Pin(identity.fingerprint, identity.public_key) if identity.fingerprint else None
    connection = Connection(url, context=pinned_context() if url.scheme == "https" else None, pin=pin)
    client = AgentClient(
        connection, identity.agent_id, identity.secret, lambda: dt.datetime.fromtimestamp(clock(), dt.UTC)
    )
    watcher: Watcher = (
        PollWatcher(root, interval=poll_interval) if poll else open_watcher(root, poll_interval=poll_interval)
    )
    return AgentRunner(
        identity=identity,
        state=state,
        client=client,
        collector=InventoryCollector(root),
        watcher=watcher,
        clock=clock,
        backoff=backoff,
        heartbeat_every=heartbeat_every,
        network=NetworkReporter(root),
    )


def run_until_signalled(runner: AgentRunner) -> None:
    """Run until SIGTERM or SIGINT (AgentFatal when the agent cannot go on)."""

    def stop(_signum: int, _frame: object) -> None:
        runner.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        runner.run()
    finally:
        runner.watcher.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
