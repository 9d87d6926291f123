"""The fleet service's figures (issue 9), on a synthetic fleet with the real findings service.

    PYTHONPATH=src:. python benchmarks/fleet.py [--instances 10000] [--inventories 300]
        [--backends sqlite,postgresql] [--queries 200] [--workdir DIR]

A fleet of `--instances` instances over ten accounts, pointing at `--inventories` distinct real inventories
(this host's dpkg package list as Debian 11 machines, each varying the versions of the packages that have
Debian 11 fixes: `benchmarks/fleet_scanning.py` builds them), against the shared advisory corpus. Per backend:

1. initial evaluation: every stored inventory evaluated for every instance holding it, the findings recorded
   by `FindingsService` (what a server does after its first agentless scans): inventories/s, findings/s;
2. `ListFindings`, a page of 100 with a severity + resource filter, as one account and as the administrator
   of all ten (p50/p95 in the process, warm store);
3. an advisory update touching 1,000 records, written by another process (as `vigil db update` or
   `vigil db import` would), then the re-evaluation the scheduler runs, end to end: from the new version to
   every affected instance's findings recorded and `lastScannedAt` updated. Three updates: 1,000 records
   re-published with new text, drawn from every feed; the same with every Debian 11 record first (each
   touches every machine of the fleet); 1,000 new advisories on Debian 11 packages (new vulnerabilities:
   the findings they open are written). After each, a sample of instances is checked against a full
   evaluation of its inventory;
4. the process's peak RSS.

`benchmarks/fleet_findings.py` measures `ListFindings` over 1,000,000 findings of 100 distinct vulnerabilities
per instance.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import multiprocessing
import random
import resource
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from vigil.advisories.store import AdvisoryDB, SourceInfo
from vigil.findings import evaluate
from vigil.findings.service import FindingsQueries, FindingsService, PageTokens
from vigil.findings.service.contents import Content
from vigil.fleet.model import Instance
from vigil.scanning.reevaluation import evaluate_inventory, reevaluate
from vigil.scanning.services import FleetServices
from vigil.store.engine import make_engine, session_factory
from vigil.store.findings import FindingContentRow, FindingRow
from vigil.store.migrate import migrate

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fleet_findings  # noqa: E402  (ListFindings timings)
import fleet_scanning as synthetic  # noqa: E402  (the synthetic fleet, the advisory update)


def publish_thousand_new(db_path: Path) -> int:
    """1,000 new advisories (the worst case of new data): copies of Debian 11 records under new ids without
    CVE aliases, so that each is a vulnerability no instance had; returns the number of changed keys."""
    with AdvisoryDB(db_path) as db:
        every = sorted(db.iter_advisories(), key=lambda a: (a.source, a.id))
        debian = [a for a in every if any(x.namespace == "debian:11" for x in a.affected)]
        picked = debian[: synthetic.UPDATED_RECORDS]
        new = [
            dataclasses.replace(a, id=f"VIGIL-BENCH-{n:04d}", aliases=(), related=())
            for n, a in enumerate(picked)
        ]
        result = db.apply_source(SourceInfo("vigil-benchmark"), new, complete=False)
        return len(result.changed_keys)


def verify(services: FleetServices, sample: int = 5) -> None:
    """A few instances' stored open findings are exactly what a full evaluation of their inventory gives."""
    rng = random.Random(3)
    pairs = list(services.inventories.latest(synthetic.ACCOUNTS))
    for instance, inventory in rng.sample(pairs, sample):
        alone = evaluate(inventory, services.advisories, now=services.clock(), account_id=instance.account_id,
                         resource_id=instance.instance_id, region=services.region)  # fmt: skip
        expected = {f.vulnerability_id: Content.of(f.to_json()).digest for f in alone.findings}
        with services.sessions() as session:
            stored = dict(
                session.execute(
                    select(FindingRow.vulnerability_id, FindingRow.content).where(
                        FindingRow.account_id == instance.account_id,
                        FindingRow.resource_id == instance.instance_id,
                        FindingRow.status != "CLOSED",
                    )
                ).all()
            )
        eol = {v for v in expected if v.endswith("-END-OF-LIFE")}  # its text names the day it is evaluated
        if {v: d for v, d in stored.items() if v not in eol} != {
            v: d for v, d in expected.items() if v not in eol
        }:
            raise SystemExit(f"{instance.instance_id}: the stored findings differ from a full evaluation")


def page_of_findings(
    queries: FindingsQueries, caller: fleet_findings.Caller, mine: list[Instance], rng: random.Random
) -> float:
    """One `ListFindings` page of 100 of one instance's findings of one severity; returns its time."""
    host = rng.choice(mine)
    criteria = {
        "severity": [{"comparison": "EQUALS", "value": rng.choice(["HIGH", "MEDIUM", "UNTRIAGED"])}],
        "resourceId": [{"comparison": "EQUALS", "value": host.instance_id}],
    }
    began = time.perf_counter()
    queries.list_findings(caller, {"maxResults": 100, "filterCriteria": criteria})
    return time.perf_counter() - began


def findings_count(services: FleetServices) -> tuple[int, int]:
    with services.sessions() as session:
        findings = session.scalar(select(func.count()).select_from(FindingRow)) or 0
        contents = session.scalar(select(func.count()).select_from(FindingContentRow)) or 0
    return findings, contents


def changed_since(services: FleetServices, since: dt.datetime) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).where(FindingRow.updated_at >= since)) or 0


def run(backend: str, args: argparse.Namespace, db_path: Path, made: list) -> None:  # type: ignore[type-arg]
    url, drop = synthetic.store_url(backend, args.workdir)
    engine = make_engine(url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        reader = AdvisoryDB(db_path, readonly=True)
        clock = synthetic.Clock()
        recorder = FindingsService(sessions)
        services = FleetServices(
            sessions, clock, synthetic.Everyone(), recorder, reader,
            snapshots_dir=args.workdir / "snapshots", region="us-east-1",
        )  # fmt: skip
        hashes = synthetic.fleet(services, made, args.instances)
        reevaluate(services)  # notes the database version
        clock.now += dt.timedelta(minutes=1)
        started = time.perf_counter()
        for n, content_hash in enumerate(hashes, 1):
            evaluate_inventory(services, content_hash)
            if n % 50 == 0:
                print(
                    f"  [{backend}] {n} inventories evaluated, {time.perf_counter() - started:.0f} s",
                    flush=True,
                )
        elapsed = time.perf_counter() - started
        findings, contents = findings_count(services)
        rates = f"{len(hashes) / elapsed:.1f} inventories/s, {findings / elapsed:,.0f} findings/s"
        print(f"[{backend}] initial evaluation: {len(hashes)} inventories for {args.instances:,} instances, "
              f"{findings:,} findings ({contents:,} distinct contents) in {elapsed:.1f} s: {rates}",
              flush=True)  # fmt: skip

        recorder.purge(clock.now)  # the hourly purge: it refreshes the planner's statistics
        hosts = [i for i, _ in services.inventories.latest(synthetic.ACCOUNTS)]
        queries = FindingsQueries(sessions, PageTokens(b"benchmark key..."), page_limit=100)
        for name, visible in (("one account", synthetic.ACCOUNTS[:1]), ("administrator", synthetic.ACCOUNTS)):
            caller = fleet_findings.Caller(synthetic.ACCOUNTS[0], frozenset(visible))
            one_page = partial(
                page_of_findings, queries, caller, [h for h in hosts if h.account_id in visible]
            )
            rng = random.Random(7)
            measured = fleet_findings.timings(one_page(rng) for _ in range(args.queries))
            print(f"[{backend}] ListFindings as {name}, severity + resource, page of 100 over {findings:,} "
                  f"findings: {measured}", flush=True)  # fmt: skip

        updates = {
            "re-published, drawn from every feed": partial(synthetic.update_thousand, every_debian_11=False),
            "re-published, every Debian 11 record first": partial(
                synthetic.update_thousand, every_debian_11=True
            ),
            "new advisories on Debian 11 packages": publish_thousand_new,
        }
        for what, update in updates.items():
            copy = args.workdir / f"update-{backend}-{uuid.uuid4().hex[:8]}.db"
            reader.backup_to(copy)
            services.advisories = AdvisoryDB(copy, readonly=True)
            reevaluate(services)
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as writer:
                keys = writer.submit(update, copy).result()
            clock.now += dt.timedelta(minutes=1)
            started = time.perf_counter()
            outcome = reevaluate(services)
            elapsed = time.perf_counter() - started
            changed = changed_since(services, clock.now)
            records = f"{synthetic.UPDATED_RECORDS:,} records ({what}; {keys} changed keys)"
            print(f"[{backend}] update of {records}: "
                  f"{outcome['inventories']} inventories, {outcome['instances']:,} instances re-evaluated, "
                  f"{changed:,} findings changed; end to end {elapsed:.2f} s", flush=True)  # fmt: skip
            verify(services)
            services.advisories.close()  # type: ignore[attr-defined]
            for leftover in copy.parent.glob(copy.name + "*"):
                leftover.unlink()
        reader.close()
    finally:
        engine.dispose()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--inventories", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=HERE.parents[1] / "shared" / "data" / "advisories")
    args = parser.parse_args()
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-fleet-bench-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    db_path = synthetic.advisory_db(args.workdir, args.corpus)
    made = synthetic.inventories(db_path, args.inventories)
    for backend in args.backends.split(","):
        run(backend, args, db_path, made)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (the advisory updates are written by another): {peak:.0f} MB")


if __name__ == "__main__":
    main()
