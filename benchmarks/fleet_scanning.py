"""Fleet scanning figures (issue 9, part B): a synthetic fleet evaluated, then re-evaluated after an advisory
update, on SQLite and PostgreSQL.

    python benchmarks/fleet_scanning.py [--instances 10000] [--inventories 300] [--workdir DIR]
                                        [--backends sqlite,postgresql] [--corpus PATH]

1. The advisory database: the shared corpus (`../shared/data/advisories`, as benchmarks/matching.py imports
   it), cached in the work folder.
2. Distinct inventories: this host's real dpkg package list (`vigil inventory / --os-only`), as Debian 11
   machines whose packages with Debian 11 security fixes each take one of the versions those fixes name
   (or the host's): `--inventories` different content hashes, seeded.
3. Per backend, a new store holding `--instances` instances over ten accounts, each pointing at one of
   those inventories as an agentless scan leaves it, then:
   - initial evaluation: every stored inventory evaluated for every instance holding it (matched once
     per inventory), the findings handed to a recorder that counts them (part C's findings service has
     its own figures): distinct inventories/s and instances/s;
   - an advisory update touching 1,000 records (re-published with new text: a new database version whose
     changed keys are their packages), then the re-evaluation the scheduler runs: end to end, from the
     new version to every affected instance's findings recorded and `lastScannedAt` updated;
   - a `ListCoverage` page over the whole fleet (coverage is computed when asked: the scan mode is part A's);
   - the process's peak RSS (it holds what a server holds: the store, the advisory reader, the caches; the
     updates are written by another process, as `vigil db update` or `vigil db import` would).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import json
import multiprocessing
import random
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from vigil.advisories.store import AdvisoryDB, SourceInfo
from vigil.findings.evaluate import Evaluation
from vigil.fleet.instances import SUCCEEDED, instance_to_json
from vigil.fleet.model import Instance, InstanceState, Volume
from vigil.inventory.model import Inventory, OSInfo
from vigil.inventory.targets import take_inventory
from vigil.scanning.reevaluation import evaluate_inventory, reevaluate
from vigil.scanning.services import FleetServices
from vigil.store.engine import make_engine, session_factory
from vigil.store.fleet import InstanceRow
from vigil.store.migrate import migrate

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import matching  # noqa: E402  (the corpus import of benchmarks/matching.py)

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
BULLSEYE = OSInfo(family="debian", id="debian", version_id="11", name="Debian GNU/Linux 11 (bullseye)")
ACCOUNTS = [f"{100000000000 + n:012d}" for n in range(10)]
UPDATED_RECORDS = 1000


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


class Everyone:
    """Every account enabled, in hybrid mode."""

    def enabled_accounts(self) -> list[str]:
        return ACCOUNTS

    def scan_mode(self, account_id: str) -> str:
        return "EC2_HYBRID"

    def deep_inspection_active(self, account_id: str) -> bool:
        return True

    def deep_inspection_paths(self, account_id: str) -> tuple[str, ...]:
        return ()


class CountingFindings:
    """Stands in for the findings service: counts what it is given."""

    def __init__(self) -> None:
        self.evaluations = 0
        self.findings = 0

    def record(self, instance: Instance, evaluation: Evaluation, now: dt.datetime) -> None:
        self.evaluations += 1
        self.findings += len(evaluation.findings)

    def close_instance(self, account_id: str, instance_id: str, now: dt.datetime, *, reason: str) -> None:
        """Nothing is closed here."""

    def purge(self, now: dt.datetime) -> int:
        return 0


def advisory_db(workdir: Path, corpus: Path) -> Path:
    path = workdir / "corpus.db"
    if not path.exists():
        matching.SHARED = corpus
        matching.import_corpus(path)
    return path


def inventories(db_path: Path, count: int, seed: int = 9) -> list[Inventory]:
    """`count` distinct Debian 11 inventories from this host's real package list."""
    fixes: dict[str, set[str]] = collections.defaultdict(set)
    with sqlite3.connect(db_path) as db:
        for package, body in db.execute("SELECT package, body FROM affected WHERE namespace = 'debian:11'"):
            fixed = json.loads(body).get("fixed_version")
            if fixed:
                fixes[package].add(fixed)
    host = take_inventory(["/"], os_only=True)
    choices = {p.purl: sorted(fixes[p.source_name or p.name]) for p in host.packages}
    rng = random.Random(seed)
    made: dict[str, Inventory] = {}
    while len(made) < count:
        packages = []
        for package in host.packages:
            versions = choices.get(package.purl) or []
            if versions and rng.random() < 0.8:
                version = rng.choice(versions)
                source_version = version if package.source_name else None
                package = dataclasses.replace(package, version=version, source_version=source_version)
            packages.append(package)
        inventory = dataclasses.replace(host, os=BULLSEYE, packages=tuple(packages), kernel=None)
        made.setdefault(inventory.content_hash, inventory)
    varied = sum(map(bool, choices.values()))
    print(f"{count} distinct inventories of {len(host.packages)} packages ({varied} with Debian 11 fixes "
          "to vary), from this host's dpkg database")  # fmt: skip
    return list(made.values())


def store_url(backend: str, workdir: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        path = workdir / f"fleet-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def fleet(services: FleetServices, made: list[Inventory], instances: int) -> list[str]:
    """The inventories stored, and `instances` instances pointing at them as their scans left them."""
    hashes = [services.inventories.put(inventory, NOW) for inventory in made]
    rows = []
    for n in range(instances):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        instance = Instance(
            account, f"i-{n:017x}", InstanceState.RUNNING, volumes=(Volume("vol-1", "/dev/xvda", 8),)
        )
        rows.append({
            "account_id": account, "instance_id": instance.instance_id, "provider": "local",
            "state": "running", "description": instance_to_json(instance), "first_seen_at": NOW,
            "changed_at": NOW,
            "vanished": False, "scan_started_at": NOW, "scan_outcome": SUCCEEDED, "scan_reason": "SUCCESSFUL",
            "last_scanned_at": NOW, "inventory_hash": hashes[n % len(hashes)],
        })  # fmt: skip
    with services.sessions.begin() as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(InstanceRow), rows[start : start + 1000])
    return hashes


def update_thousand(db_path: Path, *, every_debian_11: bool, seed: int = 11) -> int:
    """Re-publish 1,000 records with new text (a new version); returns the number of changed keys.

    The records are drawn at random from the whole corpus (a day's delta of every feed), or, for the worst
    case, are every Debian 11 record first (each one touches every machine of this fleet).
    """
    with AdvisoryDB(db_path) as db:
        by_source: dict[str, list[Any]] = collections.defaultdict(list)
        every = sorted(db.iter_advisories(), key=lambda a: (a.source, a.id))
        if every_debian_11:
            every.sort(key=lambda a: not any(x.namespace == "debian:11" for x in a.affected))
            picked = every[:UPDATED_RECORDS]
        else:
            picked = random.Random(seed).sample(every, UPDATED_RECORDS)
        for advisory in picked:
            details = f"{advisory.details or advisory.summary or ''} (revised {uuid.uuid4().hex[:6]})"
            by_source[advisory.source].append(dataclasses.replace(advisory, details=details))
        sources = {s.name: s for s in db.sources()}
        keys = 0
        for name, advisories in by_source.items():
            known = sources.get(name)
            info = SourceInfo(name, known.url if known else None, known.licence if known else None)
            result = db.apply_source(info, advisories, complete=False)
            keys += len(result.changed_keys)
        return keys


def run(backend: str, workdir: Path, db_path: Path, made: list[Inventory], instances: int) -> None:
    url, drop = store_url(backend, workdir)
    engine = make_engine(url)
    try:
        migrate(engine)
        reader = AdvisoryDB(db_path, readonly=True)
        recorder = CountingFindings()
        clock = Clock()
        services = FleetServices(
            session_factory(engine), clock, Everyone(), recorder, reader,
            snapshots_dir=workdir / "snapshots", region="us-east-1",
        )  # fmt: skip
        started = time.perf_counter()
        hashes = fleet(services, made, instances)
        print(f"[{backend}] {instances:,} instances and {len(hashes)} inventories stored: "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip

        reevaluate(services)  # notes the database version
        clock.now += dt.timedelta(minutes=1)
        started = time.perf_counter()
        for content_hash in hashes:
            evaluate_inventory(services, content_hash)
        elapsed = time.perf_counter() - started
        done = recorder.evaluations
        print(f"[{backend}] initial evaluation: {len(hashes)} inventories for {done:,} instances "
              f"({recorder.findings:,} findings) in {elapsed:.2f} s: "
              f"{len(hashes) / elapsed:.0f} inventories/s, {done / elapsed:,.0f} instances/s")  # fmt: skip

        timings = []
        for _ in range(5):
            started = time.perf_counter()
            page = services.coverage.page(
                ACCOUNTS, {"scanStatusCode": [{"comparison": "EQUALS", "value": "ACTIVE"}]}
            )
            timings.append(time.perf_counter() - started)
        shown = len(page.resources)
        print(f"[{backend}] ListCoverage, a page of {shown} (filtered) over {instances:,} instances: "
              f"median {sorted(timings)[2] * 1000:.0f} ms")  # fmt: skip

        for worst in (False, True):
            copy = workdir / f"update-{backend}-{uuid.uuid4().hex[:8]}.db"
            reader.backup_to(copy)
            services.advisories = AdvisoryDB(copy, readonly=True)
            reevaluate(services)
            before = recorder.evaluations
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as writer:
                keys = writer.submit(update_thousand, copy, every_debian_11=worst).result()  # another process
            clock.now += dt.timedelta(seconds=30)
            started = time.perf_counter()
            outcome = reevaluate(services)
            elapsed = time.perf_counter() - started
            what = "every Debian 11 record among them" if worst else "drawn from every feed"
            done = recorder.evaluations - before
            print(f"[{backend}] update of {UPDATED_RECORDS:,} records ({what}; {keys} changed keys): "
                  f"re-evaluation of {outcome['inventories']} inventories for {done:,} instances, "
                  f"end to end {elapsed:.2f} s")  # fmt: skip
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
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--corpus", type=Path, default=HERE.parents[1] / "shared" / "data" / "advisories")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-fleet-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = advisory_db(workdir, args.corpus)
    made = inventories(db_path, args.inventories)
    for backend in args.backends.split(","):
        run(backend, workdir, db_path, made, args.instances)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (the advisory updates are written by another): {peak:.0f} MB")


if __name__ == "__main__":
    main()
