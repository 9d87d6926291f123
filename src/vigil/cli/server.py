"""`vigil server`: make a server (init), run it, add accounts. A thin layer over `vigil.server`: each
command prints JSON (or serves), and every error a user can cause is one `vigil: …` line, exit status 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.app import EXIT_FAILURE, fail

server_app = typer.Typer(
    help="The fleet service: an Inspector2-compatible API over your fleet.", no_args_is_help=True
)
account_app = typer.Typer(help="The server's accounts.", no_args_is_help=True)
server_app.add_typer(account_app, name="account")
activation_app = typer.Typer(help="Activations agents register with.", no_args_is_help=True)
server_app.add_typer(activation_app, name="activation")

DirArgument = Annotated[Path, typer.Argument(help="The server's directory (settings, store, keys).")]


@contextmanager
def _clear_errors() -> Iterator[None]:
    from sqlalchemy.exc import SQLAlchemyError

    from vigil.server.keyfile import KeyFileError
    from vigil.server.serve import ServeError
    from vigil.server.settings import SettingsError
    from vigil.server.setup import SetupError

    try:
        yield
    except (SetupError, SettingsError, KeyFileError, ServeError) as exc:
        fail(str(exc), EXIT_FAILURE)
    except SQLAlchemyError as exc:
        fail(f"the fleet store: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", EXIT_FAILURE)
    except ValueError as exc:  # a database URL of no supported kind, an unusable certificate
        fail(str(exc), EXIT_FAILURE)
    except OSError as exc:
        fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", EXIT_FAILURE)


@server_app.command()
def init(
    directory: DirArgument,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="PostgreSQL store (postgresql+psycopg://…); default SQLite DIR/vigil.db."
        ),
    ] = None,
    region: Annotated[str, typer.Option(help="The region clients sign for.")] = "local",
) -> None:
    """Make a server in DIR (which must not exist or be empty) and print its first account's keys as JSON."""
    from vigil.server.setup import init_server

    with _clear_errors():
        keys = init_server(directory, database_url=database_url, region=region)
    typer.echo(json.dumps(keys.to_json()))


@server_app.command()
def run(
    directory: DirArgument,
    listen: Annotated[
        str | None, typer.Option(help="HOST:PORT (default: the settings', 127.0.0.1:8443).")
    ] = None,
    http: Annotated[
        bool, typer.Option("--http", help="Plain HTTP instead of HTTPS (loopback only).")
    ] = False,
) -> None:
    """Serve the Inspector2 API and the Vigil API until SIGTERM; prints {"endpoint"} when ready."""
    from vigil.server.serve import serve
    from vigil.server.settings import Listen, load_settings

    with _clear_errors():
        settings = load_settings(directory)
        address = Listen.parse(listen) if listen else settings.listen
        serve(settings, listen=address, http=http, announce=_announce)


def _announce(endpoint: str) -> None:
    typer.echo(json.dumps({"endpoint": endpoint}))


@account_app.command("create")
def account_create(
    directory: DirArgument,
    name: Annotated[str, typer.Option(help="The account's name.")],
) -> None:
    """Add an account to the server's organization and print its keys as JSON."""
    from vigil.fleet.accounts import InvalidValue
    from vigil.server.setup import create_account

    with _clear_errors():
        try:
            keys = create_account(directory, name)
        except InvalidValue as exc:
            fail(f"--{exc.field}: {exc.message}", EXIT_FAILURE)
    typer.echo(json.dumps(keys.to_json()))


@server_app.command()
def fleet(
    directory: DirArgument,
    account: Annotated[str, typer.Option(help="The account whose fleet this is (12 digits).")],
    local: Annotated[Path | None, typer.Option("--local", help="The local fleet file (YAML).")] = None,
    aws: Annotated[bool, typer.Option("--aws", help="The account's EC2 instances, through boto3.")] = False,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region", help="With --aws: a region to discover (repeat it; default boto3's, else us-east-1)."
        ),
    ] = None,
    role_arn: Annotated[
        str | None,
        typer.Option("--role-arn", help="With --aws: an IAM role to assume with boto3's credentials."),
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="With --aws: send every AWS call to this endpoint.")
    ] = None,
) -> None:
    """Attach (or replace) the account's fleet (a local fleet file, or EC2 with --aws), discover it now, and
    print what was found."""
    from vigil.fleet.providers import ProviderError
    from vigil.server.setup import attach_aws_fleet, attach_local_fleet

    if (local is None) == (not aws):
        fail("give exactly one of --local FILE and --aws", EXIT_FAILURE)
    if local is not None and (region or role_arn or endpoint_url):
        fail("--region, --role-arn and --endpoint-url go with --aws", EXIT_FAILURE)
    with _clear_errors():
        try:
            if local is not None:
                report = attach_local_fleet(directory, account, local)
            else:
                from vigil.fleet.providers.aws.access import default_region

                regions = region or [default_region()]
                report = attach_aws_fleet(directory, account, regions, role_arn, endpoint_url)
        except ProviderError as exc:
            fail(f"{local}: {exc}" if local is not None else f"aws: {exc}", EXIT_FAILURE)
    typer.echo(json.dumps(report.to_json()))


@activation_app.command("create")
def activation_create(
    directory: DirArgument,
    account: Annotated[str, typer.Option(help="The account the agents' instances belong to (12 digits).")],
    limit: Annotated[int, typer.Option(help="How many agents may register with it.")] = 1,
    expires: Annotated[
        str, typer.Option(help="How long it can be used (e.g. 24h, 7d; at most 30d).")
    ] = "24h",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="KEY=VALUE: a tag of the managed instances it makes.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The `Name` tag of those instances.")] = None,
) -> None:
    """Make an activation and print {"activationId", "activationCode"} as JSON (the code is shown once)."""
    from vigil.fleet.activations import ActivationError
    from vigil.server.settings import parse_duration
    from vigil.server.setup import create_activation

    tags: dict[str, str] = {}
    for item in tag or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--tag {item!r}: write KEY=VALUE", EXIT_FAILURE)
        tags[key] = value
    try:
        expires_in = parse_duration(expires)
    except ValueError as exc:
        fail(f"--expires: {exc}", EXIT_FAILURE)
    with _clear_errors():
        try:
            activation = create_activation(
                directory, account, registration_limit=limit, expires_in=expires_in, tags=tags,
                default_instance_name=name,
            )  # fmt: skip
        except ActivationError as exc:
            fail(f"--{_OPTION.get(exc.field, exc.field)}: {exc.message}", EXIT_FAILURE)
    typer.echo(json.dumps(activation.to_json()))


_OPTION = {
    "registrationLimit": "limit",
    "expirationDate": "expires",
    "tags": "tag",
    "defaultInstanceName": "name",
}


__all__ = ["server_app"]
