"""Advisory import and matching figures (issue "Advisory database and matcher").

    python benchmarks/matching.py [--entries 1000000] [--workdir DIR]

1. Import everything in ../shared/data/advisories that Vigil reads: time and database size.
2. Scale up to N affected-package entries by replicating the real records under new package names:
   import time and size; then add 1,000 records and time the update and its changed-keys set.
3. Match a 1,000-package inventory against the scaled-up database: cold (a new process, a new
   connection) and warm (the same process again), on one core.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vigil.advisories.feeds import import_path, importer_for
from vigil.advisories.importer import SourceFormatError
from vigil.advisories.model import Advisory
from vigil.advisories.store import AdvisoryDB, SourceInfo
from vigil.inventory.model import Inventory, OSInfo, Package, Stats, Target
from vigil.matching.match import match_inventory
from vigil.versions import compare

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "advisories"


def _mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20


def import_corpus(db_path: Path) -> None:
    """Every folder of the shared corpus that an importer recognises, each as one source."""
    started = time.perf_counter()
    skipped = []
    with AdvisoryDB(db_path) as db:
        for folder in sorted(p for p in SHARED.glob("*/*") if p.is_dir()):
            whole = _recognised(folder) and folder.parent.name != "enrichment"
            candidates = [folder] if whole else sorted(p for p in folder.rglob("*") if p.is_file())
            for path in candidates:
                if path.name.endswith((".md", ".tsv")):
                    continue
                try:
                    import_path(db, path)
                except SourceFormatError:
                    skipped.append(str(path.relative_to(SHARED)))
        counts = db.counts()
    elapsed = time.perf_counter() - started
    print(f"import of the shared corpus: {elapsed:.2f} s, {_mib(db_path):.1f} MiB, {counts}")
    print(f"  not read (no importer for the format): {len(skipped)} files, e.g. {skipped[:3]}")


def _recognised(folder: Path) -> bool:
    try:
        importer_for(folder)
    except SourceFormatError:
        return False
    return True


def scale_up(db_path: Path, entries: int) -> tuple[int, list[tuple[str, str]]]:
    """Replicate the real records under new package names until `entries` affected entries exist."""
    with AdvisoryDB(db_path) as db:
        originals = list({a.id: a for a in db.iter_advisories() if a.affected}.values())
        present = db.counts()["affected"]
        copies: list[Advisory] = []
        total, round_ = present, 0
        while total < entries:
            round_ += 1
            for advisory in originals:
                if total >= entries:
                    break
                affected = tuple(
                    dataclasses.replace(a, package=f"{a.package}-syn{round_}") for a in advisory.affected
                )
                copies.append(
                    dataclasses.replace(advisory, id=f"{advisory.id}-syn{round_}", affected=affected)
                )
                total += len(affected)
        started = time.perf_counter()
        db.apply_source(SourceInfo("synthetic"), copies, complete=True)
        elapsed = time.perf_counter() - started
        counts = db.counts()
        alma9 = latest_fixes(copies)
    print(f"scale-up to {counts['affected']:,} affected entries ({len(copies):,} synthetic advisories): "
          f"import {elapsed:.1f} s, database {_mib(db_path):.0f} MiB")  # fmt: skip
    return counts["affected"], alma9


def latest_fixes(advisories: list[Advisory]) -> list[tuple[str, str]]:
    """(package, its newest fixed version) of every AlmaLinux 9 package: a fully patched host."""
    latest: dict[str, str] = {}
    for advisory in advisories:
        for a in advisory.affected:
            if a.namespace != "almalinux:9" or not a.fixed_version:
                continue
            known = latest.get(a.package)
            if known is None or compare("AlmaLinux", a.fixed_version, known) > 0:
                latest[a.package] = a.fixed_version
    return sorted(latest.items())


def add_thousand(db_path: Path) -> None:
    with AdvisoryDB(db_path) as db:
        base = db.version
        originals = list(db.iter_advisories("synthetic"))[:1000]
        delta = [
            dataclasses.replace(
                a,
                id=f"{a.id}-delta",
                affected=tuple(dataclasses.replace(x, package=f"{x.package}-delta") for x in a.affected),
            )
            for a in originals
        ]
        started = time.perf_counter()
        result = db.apply_source(SourceInfo("synthetic-delta"), delta, complete=False)
        applied = time.perf_counter() - started
        started = time.perf_counter()
        keys = db.changed_keys(since=base)
        query = time.perf_counter() - started
    print(f"adding 1,000 records: update with its changed keys {applied * 1000:.0f} ms "
          f"({len(result.changed_keys):,} keys); changed keys since version {base} read back in "
          f"{query * 1000:.1f} ms ({len(keys):,} keys)  [goal < 1 s]")  # fmt: skip


def inventory_of(installed: list[tuple[str, str]]) -> Inventory:
    packages = []
    for name, evr in installed:
        epoch, _, rest = evr.rpartition(":")
        version, _, release = rest.rpartition("-")
        packages.append(
            Package(
                name,
                version,
                "rpm",
                "OS",
                f"pkg:rpm/almalinux/{name}@{rest}",
                "os/rpm",
                epoch=int(epoch) if epoch else None,
                release=release,
                arch="x86_64",
                locations=("/var/lib/rpm/rpmdb.sqlite",),
            )
        )
    os_info = OSInfo(family="redhat", id="almalinux", version_id="9.4")
    return Inventory(
        Target("image", ["bench"]), os_info, None, packages, [], Stats(), "2026-01-01T00:00:00+00:00"
    )


def match_once(db_path: Path, names_file: Path, repeats: int) -> None:
    """Run in a fresh process: the first match is cold, the next ones warm."""
    inventory = inventory_of([tuple(p) for p in json.loads(names_file.read_text())])
    started = time.perf_counter()
    db = AdvisoryDB(db_path, readonly=True)
    result = match_inventory(inventory, db)
    cold = time.perf_counter() - started
    warm = []
    for _ in range(repeats):
        started = time.perf_counter()
        match_inventory(inventory, db)
        warm.append(time.perf_counter() - started)
    print(f"  matching {len(inventory.packages):,} packages: cold {cold * 1000:.0f} ms (open + first match), "
          f"warm best {min(warm) * 1000:.1f} ms / median {sorted(warm)[len(warm) // 2] * 1000:.1f} ms; "
          f"{len(result.matches):,} vulnerabilities  [goals: cold < 1 s, warm < 50 ms]")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--match-only", type=Path, nargs=2, metavar=("DB", "NAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.match_only:
        match_once(args.match_only[0], args.match_only[1], repeats=10)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "advisories.db"
    for old in workdir.glob("advisories.db*"):
        old.unlink()
    import_corpus(db_path)
    _, alma9 = scale_up(db_path, args.entries)
    add_thousand(db_path)
    scenarios = {
        # a maintained host: packages at their newest fix, one in twenty an old build
        "maintained": [
            (name, fix if i % 20 else "1.0.0-1.el9") for i, (name, fix) in enumerate(alma9[:1000])
        ],
        # the worst case: every package older than every fix
        "never updated": [(name, "1.0.0-1.el9") for name, _ in alma9[:1000]],
    }
    for label, installed in scenarios.items():
        inventory_file = workdir / f"inventory-{label.replace(' ', '-')}.json"
        inventory_file.write_text(json.dumps(installed))
        print(f"{label} host:", flush=True)
        # one core: the matcher is single-threaded; the child is pinned to make it explicit
        command = [sys.executable, __file__, "--match-only", str(db_path), str(inventory_file)]
        if hasattr(os, "sched_setaffinity"):
            command = ["taskset", "-c", "0", *command]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
