"""`vigil server init` and `vigil server account create` as use cases: they return the new account's keys
(printed as JSON by the CLI), refuse to overwrite a server, and leave nothing behind when they fail."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from vigil.advisories.store import AdvisoryDB
from vigil.clock import Clock, system_clock
from vigil.fleet.accounts import AccountsService, NewAccount
from vigil.fleet.activations import NewActivation
from vigil.fleet.discovery import DiscoveryReport
from vigil.server import tls
from vigil.server.keyfile import KeyFile
from vigil.server.runtime import Runtime, open_runtime, open_store
from vigil.server.settings import DEFAULT_REGION, Settings, load_settings, save_settings
from vigil.store import accounts as store
from vigil.store.engine import session_factory

if TYPE_CHECKING:
    from vigil.scanning.operations import FleetOperations

FIRST_ACCOUNT = "management"


class SetupError(ValueError):
    """The server cannot be made (or the account added) as asked; nothing was changed."""


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """What a user needs to talk to the server as one account."""

    account_id: str
    access_key_id: str
    secret_access_key: str
    region: str
    endpoint: str
    ca_cert: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "accessKeyId": self.access_key_id,
            "secretAccessKey": self.secret_access_key,
            "region": self.region,
            "endpoint": self.endpoint,
            "caCert": str(self.ca_cert),
        }


def init_server(
    directory: Path,
    *,
    database_url: str | None = None,
    region: str = DEFAULT_REGION,
    clock: Clock = system_clock,
) -> AccountKeys:
    """Settings, secrets key, TLS certificate, advisory database, store and first account in a new DIR."""
    directory = directory.absolute()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise SetupError(f"{directory} exists and is not an empty directory: refusing to overwrite it")
    with _undone_on_failure(directory):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # an empty folder given may have been made readable by others
        save_settings(Settings(directory, region=region, database_url=database_url))
        settings = load_settings(directory)  # the same checks as every later start
        sealer = KeyFile.create(settings.path(settings.secrets_key))
        certificate = settings.path(settings.tls_certificate)
        tls.make_certificate(
            certificate, settings.path(settings.tls_private_key), tls.names_for(settings.listen), clock()
        )
        AdvisoryDB(settings.path(settings.advisory_db)).close()
        for folder in (settings.exports, settings.snapshots):
            settings.path(folder).mkdir(mode=0o700, exist_ok=True)
        with open_store(settings) as engine:
            sessions = session_factory(engine)
            with Session(engine) as session:
                if store.organization(session) is not None:
                    raise SetupError(
                        f"the store at {_shown(settings.store_url)} holds a server's accounts already"
                    )
            account = AccountsService(sessions, sealer, clock).create_account(FIRST_ACCOUNT)
        return _keys(settings, account)


def create_account(directory: Path, name: str, *, clock: Clock = system_clock) -> AccountKeys:
    """Another account of the server's organization (the server may be running)."""
    settings = load_settings(directory)
    sealer = KeyFile.open(settings.path(settings.secrets_key))
    with open_store(settings) as engine:
        account = AccountsService(session_factory(engine), sealer, clock).create_account(name)
    return _keys(settings, account)


def attach_local_fleet(directory: Path, account_id: str, fleet_file: Path) -> DiscoveryReport:
    """Attach (or replace) an account's local fleet file and discover it now (the server may be running:
    it scans what is new at its next tick). `ProviderError` when the file cannot be used: nothing changes."""
    with _fleet_operations(directory, account_id) as operations:
        return operations.attach_local(account_id, str(fleet_file.resolve()))


def attach_aws_fleet(
    directory: Path,
    account_id: str,
    regions: Sequence[str],
    role_arn: str | None = None,
    endpoint_url: str | None = None,
) -> DiscoveryReport:
    """Attach (or replace) an account's AWS fleet in these regions (boto3's credentials, or a role they
    assume; every client through `endpoint_url` if given) and discover it now. `ProviderError` when it
    cannot be described: nothing changes."""
    with _fleet_operations(directory, account_id) as operations:
        return operations.attach_aws(account_id, regions, role_arn, endpoint_url)


@contextmanager
def _account_runtime(directory: Path, account_id: str) -> Iterator[Runtime]:
    """The server's runtime (it may be running meanwhile), for one of its accounts (SetupError if none)."""
    with open_runtime(load_settings(directory)) as runtime:
        with runtime.sessions() as session:
            if store.account(session, account_id) is None:
                raise SetupError(f"no account {account_id} on this server")
        yield runtime


@contextmanager
def _fleet_operations(directory: Path, account_id: str) -> Iterator[FleetOperations]:
    """The fleet's operations for one account, run in this process (discovery is done before they return)."""
    from vigil.scanning.executor import InlineExecutor
    from vigil.scanning.operations import FleetOperations

    with _account_runtime(directory, account_id) as runtime:
        yield FleetOperations(runtime.fleet, InlineExecutor(runtime.fleet))


def create_activation(
    directory: Path,
    account_id: str,
    *,
    registration_limit: int,
    expires_in: dt.timedelta,
    tags: dict[str, str],
    default_instance_name: str | None = None,
) -> NewActivation:
    """An activation of the account, for agents to register with (`ActivationError` on a bad value)."""
    with _account_runtime(directory, account_id) as runtime:
        return runtime.activations.create(
            account_id,
            registration_limit=registration_limit,
            expiration_date=runtime.clock() + expires_in,
            default_instance_name=default_instance_name,
            tags=tags,
        )


def _keys(settings: Settings, account: NewAccount) -> AccountKeys:
    return AccountKeys(
        account.account_id,
        account.access_key_id,
        account.secret_access_key,
        settings.region,
        settings.listen.url("https"),
        settings.path(settings.tls_certificate),
    )


def _shown(url: str) -> str:
    """A database URL without its password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


@contextmanager
def _undone_on_failure(directory: Path) -> Iterator[None]:
    """The directory as it was (absent, or empty) if the block fails."""
    existed = directory.exists()
    try:
        yield
    except BaseException:
        if existed:
            for entry in directory.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    os.unlink(entry)
        else:
            shutil.rmtree(directory, ignore_errors=True)
        raise
