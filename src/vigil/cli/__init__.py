"""The `vigil` command: one module per command group, assembled here."""

from __future__ import annotations

from vigil.cli.agent import agent_app
from vigil.cli.app import app
from vigil.cli.db import db_app
from vigil.cli.inventory import inventory
from vigil.cli.scan import scan
from vigil.cli.server import server_app

app.command()(inventory)
app.command()(scan)
app.add_typer(db_app, name="db")
app.add_typer(server_app, name="server")
app.add_typer(agent_app, name="agent")


def main() -> None:
    app()


__all__ = ["app", "main"]
