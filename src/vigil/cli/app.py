"""The Typer application and what every command shares."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="vigil",
    help="Continuous vulnerability scanning for fleets of Linux virtual machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_FAILURE = 1
EXIT_UNREADABLE_TARGET = 2


@app.callback()
def _commands() -> None:
    """Continuous vulnerability scanning for fleets of Linux virtual machines."""


def fail(message: str, code: int = EXIT_UNREADABLE_TARGET) -> NoReturn:
    typer.echo(f"vigil: {message}", err=True)
    raise typer.Exit(code)


TargetsArgument = Annotated[
    list[str], typer.Argument(help="A directory (/ for this host) or one instance's disk image file(s).")
]
