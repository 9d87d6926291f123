"""`vigil agent`: register this machine with a Vigil server, then run the agent. A thin layer over
`vigil.agent`, which imports nothing of the server's: `pip install vigil` is all an agent needs."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.app import EXIT_FAILURE, fail

agent_app = typer.Typer(
    help="The agent: registers this machine with a Vigil server and reports its inventory.",
    no_args_is_help=True,
)

StateOption = Annotated[
    Path, typer.Option("--state", help="The agent's state directory (identity, pinned certificate, queue).")
]
RootOption = Annotated[
    Path, typer.Option("--root", help="Inventory this directory tree instead of the host (/).")
]
DEFAULT_STATE = Path("/var/lib/vigil-agent")


@agent_app.command()
def register(
    server: Annotated[str, typer.Option("--server", help="The server's URL, https://HOST[:PORT].")],
    activation_id: Annotated[str, typer.Option("--activation-id", help="The activation's id.")],
    activation_code: Annotated[str, typer.Option("--activation-code", help="The activation's code.")],
    ca_cert: Annotated[
        Path | None,
        typer.Option(
            "--ca-cert", help="PEM the server's certificate must verify against (else the system's)."
        ),
    ] = None,
    state: StateOption = DEFAULT_STATE,
    root: RootOption = Path("/"),
    force: Annotated[
        bool, typer.Option("--force", help="Register again even if the state directory holds an identity.")
    ] = False,
) -> None:
    """Register with a server once; prints {"instanceId"} as JSON."""
    from vigil.agent.register import RegistrationError
    from vigil.agent.register import register as register_agent
    from vigil.agent.state import StateDir, StateError

    try:
        identity = register_agent(
            StateDir(state),
            server,
            activation_id,
            activation_code,
            ca_cert=str(ca_cert) if ca_cert else None,
            root=str(root),
            force=force,
        )
    except (RegistrationError, StateError) as exc:
        fail(str(exc), EXIT_FAILURE)
    typer.echo(json.dumps({"instanceId": identity.instance_id}))


@agent_app.command()
def run(
    state: StateOption = DEFAULT_STATE,
    root: RootOption = Path("/"),
    heartbeat: Annotated[
        float, typer.Option("--heartbeat", min=1, help="Seconds between two heartbeats.")
    ] = 60.0,
    poll: Annotated[
        bool, typer.Option("--poll", help="Watch the package databases by polling instead of inotify.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each heartbeat too.")] = False,
) -> None:
    """Run the registered agent until SIGTERM or SIGINT: heartbeats, collections, deliveries."""
    from vigil.agent.runner import AgentFatal
    from vigil.agent.service import open_agent, run_until_signalled
    from vigil.agent.state import StateError

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="vigil-agent: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        runner = open_agent(state, root=str(root), heartbeat_every=heartbeat, poll=poll)
        run_until_signalled(runner)
    except (StateError, ValueError, AgentFatal) as exc:
        fail(str(exc), EXIT_FAILURE)
