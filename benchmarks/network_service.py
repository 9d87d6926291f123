"""Network reachability figures on the server side (issue "Network reachability analysis"): the per-account
task `analyze_network` with the real store, the real accounts and the real findings service.

    PYTHONPATH=src:. python benchmarks/network_service.py [--instances 10000] [--subnets 200] [--groups 2000]
        [--acl-rules 400] [--backends sqlite,postgresql] [--workdir DIR]

The account of `benchmarks/network.py` (`account(...)`: 10 VPCs, `--instances` instances with one interface
each, security groups with CIDR, prefix-list and group-reference rules, internet-facing load balancers),
written as the EC2/ELB APIs describe it (`description_from_topology`) and attached through discovery as a
provider's fleet would be (`discovery.attach`: the instances running, the description stored with its
digest), the account enabled. Per backend, in a process of its own (so that each peak RSS is its own):

1. the first `analyze_network`: the description read and analysed, every NETWORK_REACHABILITY finding
   recorded (opened), every instance's exposure stored;
2. `analyze_network` again with nothing changed (every finding found again as it is);
3. one rule added to the security group most interfaces use (tcp 9100 from 0.0.0.0/0): discovery attaches
   the changed description, then `analyze_network`. The stored open network findings are then checked
   against a fresh `vigil.network.analyze` of the changed topology: the same (instance, protocol, begin,
   end) for every finding, counted;
4. the process's peak RSS.

The PostgreSQL database (`postgresql+psycopg://postgres@127.0.0.1:5432`, a new database per run) is dropped
at the end; the SQLite store and the other files are made in a folder of their own (in `--workdir` if given,
else in the temporary folder), removed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from vigil.advisories.store import AdvisoryDB
from vigil.findings.network import NETWORK_REACHABILITY
from vigil.findings.service import FindingsService
from vigil.fleet import discovery
from vigil.fleet.accounts import AccountsService
from vigil.fleet.model import Instance, InstanceState
from vigil.fleet.providers import FleetDescription
from vigil.network import SecurityGroupRule, Topology, analyze, description_from_topology
from vigil.scanning.network_scan import analyze_network
from vigil.scanning.services import FleetServices
from vigil.server.keyfile import KeyFile
from vigil.store.engine import make_engine, session_factory
from vigil.store.findings import FindingRow
from vigil.store.migrate import migrate

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import network as generated  # noqa: E402  (the 10,000-instance account of benchmarks/network.py)

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
KIND = "aws"  # the provider whose description this is: the EC2 and ELB APIs' shapes
REGION = "us-east-1"
OPENED = SecurityGroupRule("tcp", 9100, 9100, cidr_ipv4="0.0.0.0/0")

Key = tuple[str, str, int, int]  # (instance, protocol, begin, end)


class Clock:
    """The benchmark's time: moved a minute between steps, so that each step's records are its own."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self) -> dt.datetime:
        self.now += dt.timedelta(minutes=1)
        return self.now


@dataclasses.dataclass
class DescribedFleet:
    """A provider (`vigil.fleet.providers.Provider`) that describes the benchmark's account as it is now."""

    instances: tuple[Instance, ...]
    network: dict[str, Any]
    kind: str = KIND

    def describe(self, account_id: str) -> FleetDescription:
        return FleetDescription(self.instances, (), self.network)

    def config(self) -> dict[str, Any]:
        return {"benchmark": "network_service"}


def store_url(backend: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A new store of this backend, and how to remove it (as benchmarks/fleet_scanning.py makes them)."""
    if backend == "sqlite":
        path = workdir / f"network-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r} (sqlite, postgresql)")
    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def instances_of(topology: Topology, account_id: str) -> tuple[Instance, ...]:
    """The account's instances as its provider describes them: running, in their primary interface's subnet
    (no volumes: a network analysis reads none)."""
    vpcs = {s.subnet_id: s.vpc_id for s in topology.subnets}
    primary = {
        i.instance_id: i
        for i in topology.network_interfaces
        if i.instance_id is not None and i.device_index == 0
    }
    return tuple(
        Instance(
            account_id,
            instance_id,
            InstanceState.RUNNING,
            vpc_id=vpcs.get(interface.subnet_id),
            subnet_id=interface.subnet_id,
            ip_v4_addresses=(interface.private_ip_address,),
            provider=KIND,
            region=REGION,
        )
        for instance_id, interface in sorted(primary.items())
    )


def with_rule_opened(topology: Topology) -> tuple[Topology, str]:
    """The topology with `OPENED` added to the security group most interfaces use; that group's id."""
    uses = Counter(g for i in topology.network_interfaces for g in set(i.groups))
    busiest = max(topology.security_groups, key=lambda g: (uses[g.group_id], g.group_id))
    changed = dataclasses.replace(busiest, ingress=(*busiest.ingress, OPENED))
    return topology.with_security_group(changed), busiest.group_id


def stored_findings(services: FleetServices, account_id: str) -> Counter[Key]:
    """The account's open network findings, by (instance, protocol, begin, end)."""
    statement = select(
        FindingRow.resource_id,
        FindingRow.network_protocol,
        FindingRow.open_port_begin,
        FindingRow.open_port_end,
    ).where(
        FindingRow.account_id == account_id,
        FindingRow.finding_type == NETWORK_REACHABILITY,
        FindingRow.status != "CLOSED",
    )
    with services.sessions() as session:
        return Counter((r, p or "", b or 0, e or 0) for r, p, b, e in session.execute(statement))


def expected_findings(topology: Topology) -> Counter[Key]:
    return Counter((f.instance_id, f.protocol, f.begin, f.end) for f in analyze(topology).findings)


def count_rows(services: FleetServices, account_id: str, *, status: str | None = None) -> int:
    statement = select(func.count()).where(
        FindingRow.account_id == account_id, FindingRow.finding_type == NETWORK_REACHABILITY
    )
    if status is not None:
        statement = statement.where(FindingRow.status == status)
    with services.sessions() as session:
        return session.scalar(statement) or 0


def changed_at(services: FleetServices, account_id: str, at: dt.datetime) -> tuple[int, int]:
    """How many of the account's network findings were opened, and closed, at `at`."""
    network = (FindingRow.account_id == account_id, FindingRow.finding_type == NETWORK_REACHABILITY)
    with services.sessions() as session:
        opened = session.scalar(select(func.count()).where(*network, FindingRow.first_observed_at == at))
        closed = session.scalar(select(func.count()).where(*network, FindingRow.closed_at == at))
    return opened or 0, closed or 0


def timed(what: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = what()
    return result, time.perf_counter() - started


def run(backend: str, args: argparse.Namespace) -> None:
    """One backend's figures, printed (run in a process of its own)."""
    topology = generated.account(args.instances, args.subnets, args.groups, args.acl_rules)
    changed, group_id = with_rule_opened(topology)
    description, took = timed(lambda: description_from_topology(topology))
    changed_description = description_from_topology(changed)
    print(f"[{backend}] description written: {sum(len(v) for v in description.values()):,} top-level objects "
          f"in {took:.2f} s", flush=True)  # fmt: skip
    url, drop = store_url(backend, args.workdir)
    engine = make_engine(url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        clock = Clock()
        accounts = AccountsService(sessions, KeyFile.create(args.workdir / f"secrets-{backend}.key"), clock)
        account_id = accounts.create_account("network benchmark").account_id
        accounts.enable(account_id, [account_id], ["EC2"])
        advisories = AdvisoryDB(args.workdir / f"advisories-{backend}.db")  # a network analysis reads none
        services = FleetServices(
            sessions, clock, accounts, FindingsService(sessions), advisories,
            snapshots_dir=args.workdir / "snapshots", region=REGION,
        )  # fmt: skip
        instances = instances_of(topology, account_id)
        report, took = timed(
            lambda: discovery.attach(
                sessions, account_id, DescribedFleet(instances, description), clock.advance()
            )
        )
        print(f"[{backend}] discovery attached {len(report.new):,} instances and the description: "
              f"{took:.2f} s", flush=True)  # fmt: skip

        clock.advance()
        summary, took = timed(lambda: analyze_network(services, account_id))
        opened = count_rows(services, account_id, status="ACTIVE")
        print(f"[{backend}] (a) first analyze_network: {summary['findings']:,} findings on "
              f"{summary['instances']:,} instances, {opened:,} findings opened in the store: {took:.2f} s",
              flush=True)  # fmt: skip
        expected = expected_findings(topology)
        if stored_findings(services, account_id) != expected:
            raise SystemExit(f"[{backend}] the stored findings differ from the analysis after (a)")

        at = clock.advance()
        summary, took = timed(lambda: analyze_network(services, account_id))
        with services.sessions() as session:
            moved = session.scalar(
                select(func.count()).where(
                    FindingRow.account_id == account_id,
                    FindingRow.finding_type == NETWORK_REACHABILITY,
                    FindingRow.last_observed_at == at,
                )
            )
        print(f"[{backend}] (b) analyze_network, nothing changed: {summary['findings']:,} findings "
              f"({moved:,} observed again, {summary['exposureChanged']:,} exposures changed): {took:.2f} s",
              flush=True)  # fmt: skip

        report, took_attach = timed(
            lambda: discovery.attach(
                sessions, account_id, DescribedFleet(instances, changed_description), clock.advance()
            )
        )
        if not report.network_changed:
            raise SystemExit(f"[{backend}] discovery did not see the description change")
        at = clock.advance()
        summary, took = timed(lambda: analyze_network(services, account_id))
        opened_at, closed_at = changed_at(services, account_id, at)
        stored, expected = stored_findings(services, account_id), expected_findings(changed)
        if stored != expected:
            missing, extra = expected - stored, stored - expected
            raise SystemExit(
                f"[{backend}] after (c) the stored open findings differ from a fresh analysis: "
                f"{sum(missing.values())} missing (e.g. {sorted(missing)[:3]}), "
                f"{sum(extra.values())} extra (e.g. {sorted(extra)[:3]})"
            )
        opened_now = sum(n for key, n in expected.items() if key[1:] == ("TCP", 9100, 9100))
        sample = sorted(expected)[:: max(1, len(expected) // 3)][:3]
        print(
            f"[{backend}] (c) rule tcp 9100 from 0.0.0.0/0 added to {group_id}: discovery "
            f"{took_attach:.2f} s, analyze_network {took:.2f} s: {summary['findings']:,} findings "
            f"({opened_at:,} opened, {closed_at:,} closed, {summary['exposureChanged']:,} exposures changed)",
            flush=True,
        )
        print(f"[{backend}]     the store's open network findings equal a fresh analysis of the changed "
              f"topology: {sum(stored.values()):,} ({opened_now:,} on tcp 9100), e.g. {sample}",
              flush=True)  # fmt: skip
        advisories.close()
    finally:
        engine.dispose()
        drop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"[{backend}] peak RSS of the process: {peak:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--subnets", type=int, default=200)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--acl-rules", type=int, default=400)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    # a folder of this run's own, inside --workdir if given, removed at the end
    args.workdir = Path(tempfile.mkdtemp(prefix="vigil-network-bench-", dir=args.workdir))
    try:
        for backend in args.backends.split(","):
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
                process.submit(run, backend, args).result()
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
