"""Findings service tests: the store on both backends, real evaluations of real inventories, a moving clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from tests.findings.test_inspector_findings import BULLSEYE, _debian, _inventories, _stanza
from tests.matching.conftest import advisory_db

from vigil.findings import evaluate
from vigil.findings.service.lifecycle import FindingsService
from vigil.findings.service.listing import FindingsQueries
from vigil.findings.service.tokens import PageTokens
from vigil.fleet.model import Instance, InstanceState
from vigil.store.engine import session_factory

__all__ = ["advisory_db"]

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
ADMIN, MEMBER, OTHER = "111111111111", "222222222222", "333333333333"
REGION = "us-east-1"
KERNEL = _stanza("linux-image-5.10.0-20-amd64", "5.10.158-2", "linux-signed-amd64 (5.10.158+2)")
CURL = [_stanza("curl", "7.74.0-1.3+deb11u3"), _stanza("libcurl4", "7.74.0-1.3+deb11u3", "curl")]


@dataclass
class Clock:
    """Time the tests move by hand."""

    now: dt.datetime = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class Requester:
    account_id: str
    administered: frozenset[str] = field(default_factory=frozenset)

    @property
    def visible(self) -> frozenset[str]:
        return self.administered | {self.account_id}


@pytest.fixture(scope="session")
def inventories(tmp_path_factory):
    """Real inventories: a Debian 11 host with curl and a running kernel, the same host after its kernel was
    replaced, an AlmaLinux 9 host, Java/npm/Python applications, a Debian 10 host past its end of life."""
    root = tmp_path_factory.mktemp("hosts")
    bullseye, alma, apps, buster = _inventories(root)
    patched = _debian(root / "patched", BULLSEYE, CURL)
    return {"bullseye": bullseye, "patched": patched, "alma": alma, "apps": apps, "buster": buster}


def instance(instance_id="i-0a1b2c3d4e5f60001", account=ADMIN, **options) -> Instance:
    options.setdefault("state", InstanceState.RUNNING)
    options.setdefault("image_id", "ami-0123456789abcdef0")
    return Instance(account_id=account, instance_id=instance_id, **options)


@pytest.fixture
def sessions(store_engine):
    return session_factory(store_engine)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def findings(sessions):
    return FindingsService(sessions, filter_owners=lambda session, account: {account, ADMIN})


@pytest.fixture
def queries(sessions):
    return FindingsQueries(sessions, PageTokens(b"k" * 32))


@pytest.fixture
def scan(findings, advisory_db, inventories, clock):
    """Record one evaluation of `host` (a name of `inventories`) on the instance, now."""

    def record(target: Instance, host: str) -> None:
        evaluation = evaluate(
            inventories[host],
            advisory_db,
            now=clock.now,
            account_id=target.account_id,
            resource_id=target.instance_id,
            region=REGION,
        )
        findings.record(target, evaluation, clock.now)

    return record
