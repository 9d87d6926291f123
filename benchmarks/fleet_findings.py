"""Findings store figures (issue 9): recording a fleet's findings and paging through 1,000,000 of them.

    PYTHONPATH=src:. python benchmarks/fleet_findings.py [--instances 10000] [--per-instance 100]
        [--accounts 10] [--backend sqlite|postgresql|both] [--queries 200] [--workdir DIR [--reuse]]

1. Record N instances x M findings through `FindingsService.record` (the scanner's path): the findings are
   the real findings of the test suite's inventories evaluated against its real advisory records, each made
   into M distinct vulnerabilities per instance (ids, severities and packages varied).
2. `ListFindings` as one account's caller and as an administrator seeing every account: a page with a
   severity + resource filter, a page with a severity filter alone (default order, worst first), the 50th page
   of a severity filter; pages of 100 (the issue's figure) and of 25 (what the model's FindingList holds).
   p50 and p95 over the queries, in the process (no HTTP), on a warm store.
PostgreSQL is the machine's (127.0.0.1:5432, database `test`): a database of the benchmark's own is made
and dropped.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

from vigil.enums import Severity
from vigil.findings import Finding, evaluate
from vigil.findings.evaluate import Evaluation
from vigil.findings.inspector import Resource, finding_arn
from vigil.findings.service import FindingsQueries, FindingsService, PageTokens
from vigil.fleet.model import Instance, InstanceState
from vigil.store.engine import make_engine, session_factory
from vigil.store.migrate import migrate

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REGION = "us-east-1"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SEVERITIES = [
    Severity.CRITICAL,
    Severity.HIGH,
    *[Severity.MEDIUM] * 3,
    *[Severity.LOW] * 2,
    Severity.UNTRIAGED,
]


def templates(workdir: Path) -> list[Finding]:
    """The real findings the test suite's inventories have against its real advisory records."""
    from tests.findings.test_inspector_findings import _inventories
    from tests.matching.conftest import IMPORTER_FIXTURES, SOURCES

    from vigil.advisories.feeds import import_path
    from vigil.advisories.store import AdvisoryDB

    path = workdir / "advisories.db"
    with AdvisoryDB(path) as db:
        for source in SOURCES:
            import_path(db, IMPORTER_FIXTURES / source)
    with AdvisoryDB(path, readonly=True) as db:
        found = [f for i in _inventories(workdir) for f in evaluate(i, db, now=NOW, region=REGION).findings]
    return [f for f in found if f.details.vulnerable_packages]


def fleet(instances: int, accounts: int) -> list[Instance]:
    return [
        Instance(
            account_id=f"{100000000000 + n % accounts:012d}",
            instance_id=f"i-{n:017x}",
            state=InstanceState.RUNNING,
            image_id=f"ami-{n % 300:017x}",
            tags={"Name": f"host-{n}", "team": f"team-{n % 7}"},
        )
        for n in range(instances)
    ]


def evaluation(
    instance: Instance, templates: list[Finding], per_instance: int, rng: random.Random
) -> Evaluation:
    """`per_instance` distinct findings for the instance, made from the templates."""
    resource = Resource(instance.account_id, REGION, instance.instance_id, "DEBIAN_11")
    findings = []
    for k in rng.sample(range(20 * per_instance), per_instance):
        template = templates[k % len(templates)]
        vulnerability_id = f"CVE-{2015 + k % 10}-{10000 + k}"
        packages = tuple(
            dataclasses.replace(p, version=f"{p.version}.{k % 13}")
            for p in template.details.vulnerable_packages
        )
        findings.append(
            dataclasses.replace(
                template,
                arn=finding_arn(resource, vulnerability_id),
                account_id=instance.account_id,
                resource_id=instance.instance_id,
                title=f"{vulnerability_id} - {', '.join(sorted({p.name for p in packages}))}",
                severity=rng.choice(SEVERITIES),
                details=dataclasses.replace(
                    template.details, vulnerability_id=vulnerability_id, vulnerable_packages=packages
                ),
            )
        )
    return Evaluation(tuple(findings), (), len(findings), NOW)


@dataclasses.dataclass(frozen=True)
class Caller:
    account_id: str
    visible: frozenset[str]


def timings(run: Iterator[float]) -> str:
    samples = sorted(run)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return f"p50 {statistics.median(samples) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


def measure(queries: FindingsQueries, caller: Caller, hosts: list[Instance], count: int, size: int) -> None:
    rng = random.Random(7)
    mine = [h for h in hosts if h.account_id in caller.visible]

    def page(request: dict[str, object]) -> float:
        started = time.perf_counter()
        result = queries.list_findings(caller, request)
        elapsed = time.perf_counter() - started
        assert result.items or request.get("nextToken") is not None, request
        return elapsed

    def severity(value: str) -> dict[str, object]:
        return {"severity": [{"comparison": "EQUALS", "value": value}]}

    def one_resource() -> float:
        host = rng.choice(mine)
        criteria = severity("MEDIUM") | {"resourceId": [{"comparison": "EQUALS", "value": host.instance_id}]}
        return page({"maxResults": size, "filterCriteria": criteria})

    def by_severity() -> float:
        return page({"maxResults": size, "filterCriteria": severity(rng.choice(["CRITICAL", "HIGH", "LOW"]))})

    print(f"    severity + resource, page of {size}:  {timings(one_resource() for _ in range(count))}")
    print(f"    severity alone, page of {size}:       {timings(by_severity() for _ in range(count))}")
    request: dict[str, object] = {"maxResults": size, "filterCriteria": severity("MEDIUM")}
    for _ in range(49):
        token = queries.list_findings(caller, request).next_token
        request = request | {"nextToken": token}
    print(f"    50th page of a severity filter:      {timings(page(request) for _ in range(count))}")


def run(url: str, args: argparse.Namespace, found: list[Finding]) -> None:
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    service = FindingsService(sessions)
    hosts = fleet(args.instances, args.accounts)
    rng = random.Random(1)
    started = time.perf_counter()
    for n, host in enumerate([] if args.reuse else hosts, 1):
        service.record(host, evaluation(host, found, args.per_instance, rng), NOW)
        if n % 1000 == 0:
            rate = n * args.per_instance / (time.perf_counter() - started)
            print(
                f"  recorded {n} instances, {n * args.per_instance} findings ({rate:,.0f} findings/s)",
                flush=True,
            )
    elapsed = time.perf_counter() - started
    total = args.instances * args.per_instance
    if not args.reuse:
        print(f"  recording: {total:,} findings in {elapsed:.0f} s ({total / elapsed:,.0f} findings/s)")
    started = time.perf_counter()
    service.purge(NOW)  # what the server runs every hour: it refreshes the planner's statistics too
    print(f"  purge (nothing to delete) and statistics: {time.perf_counter() - started:.1f} s")
    accounts = sorted({h.account_id for h in hosts})
    callers = {
        f"one account ({total // len(accounts):,} findings)": Caller(accounts[0], frozenset(accounts[:1])),
        f"administrator of {len(accounts)} accounts ({total:,} findings)": Caller(
            accounts[0], frozenset(accounts)
        ),
    }
    for size in (100, 25):
        for name, caller in callers.items():
            print(f"  ListFindings as {name}:")
            measure(
                FindingsQueries(sessions, PageTokens(b"benchmark key..."), page_limit=size),
                caller,
                hosts,
                args.queries,
                size,
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--per-instance", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the SQLite store a run left in --workdir"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-findings-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    found = templates(workdir)
    shape = f"{args.instances:,} instances x {args.per_instance} findings"
    print(f"{len(found)} real findings as templates; {shape}")
    if args.backend in ("sqlite", "both"):
        path = workdir / "vigil.db"
        if not args.reuse:
            path.unlink(missing_ok=True)
        print("SQLite (WAL):")
        run(f"sqlite:///{path}", args, found)
        print(f"  store size: {sum(p.stat().st_size for p in workdir.glob('vigil.db*')) / 2**20:,.0f} MiB")
    if args.backend in ("postgresql", "both"):
        name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            print("PostgreSQL:")
            run(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", args, found)
            with admin.connect() as connection:
                size = connection.execute(text(f"SELECT pg_database_size('{name}')")).scalar() or 0
            print(f"  store size: {size / 2**20:,.0f} MiB")
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
