"""This host's deep inspection, Vigil beside Trivy in one run (issue #8, "Speed").

    python benchmarks/host.py [--rounds 3] [--skip DIR ...] [--no-trivy]

Each round runs one after the other: `trivy rootfs /` (through ../shared/bench/peers.sh), Vigil's collection
of `/` with scope all on every usable CPU (what `vigil inventory / --scope all --format json -o FILE` does,
JSON written included), and the same collection in one process (`Limits(workers=1)`). For each run: wall
time, CPU time (user + system of every process it started), peak memory (the sum of the resident sets of
all its processes, sampled every 20 ms: a worker's pages shared with its parent count twice, so this is an
upper bound), and what it found; then whether the inventory collected by several processes is identical
to the one-process one (everything but the collection time and bytes read: the host may change between the
two, so differences are listed by path).

`--skip DIR` leaves a folder out of both tools' walk (e.g. a path too long for Trivy to open). The load
average is printed first: other work on the machine skews every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 600  # seconds a run may take
REPO = Path(__file__).resolve().parents[1]
PEERS = REPO.parent / "shared" / "bench" / "peers.sh"
if not PEERS.exists():  # a worktree of the repository: the shared folder is beside the main checkout
    PEERS = Path("/work/shared/bench/peers.sh")

# what `vigil inventory / --scope all --format json -o OUT` runs, with the workers and skipped folders given
COLLECT = """
import json, os, socket, sys
from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, Limits, PathScope
from vigil.inventory.model import Target
from vigil.inventory.registry import extractors
from vigil.inventory.targets import host_skipped_mounts
out, workers, skipped = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
scope = PathScope.all(excluded=host_skipped_mounts() | set(skipped))
collector = Collector(LiveFS("/"), extractors(), scope=scope, limits=Limits(workers=workers or None),
                      running_kernel=os.uname().release)
inventory = collector.collect(Target(kind="host", paths=("/",), hostname=socket.gethostname()))
with open(out, "w", encoding="utf-8") as f:
    f.write(json.dumps(inventory.to_json(), indent=2) + "\\n")
"""


@dataclass
class Run:
    name: str
    wall: float
    cpu: float
    rss_mb: float
    returncode: int
    document: dict | None
    stderr: str

    def line(self) -> str:
        if self.returncode != 0:
            return f"  {self.name:22s} failed ({self.returncode}): {self.stderr.strip()[-300:]}"
        return (
            f"  {self.name:22s} {self.wall:6.2f} s wall {self.cpu:6.2f} s CPU {self.rss_mb:6.0f} MB peak"
            f"  {found(self.document)}"
        )


def tree_rss_kb(pid: int) -> int:
    """Resident kB of a process and all its descendants (0 for those already gone)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            # the processes here fork from their main thread (Trivy's other threads start none)
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
            pending.extend(int(child) for child in children.split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def measure(name: str, command: list[str], output: Path, env: dict[str, str] | None = None) -> Run:
    """Run a command to its end (or `TIMEOUT`): wall time, CPU of every process it waited for, peak
    resident memory. Its whole process group is killed if it overruns or the benchmark is interrupted."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    peak = 0

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, tree_rss_kb(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # Trivy ignores SIGTERM while it parses
        _, stderr = process.communicate()
        stderr += f"\nstopped after {TIMEOUT} s"
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    wall = time.perf_counter() - started
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    document = json.loads(output.read_text()) if output.exists() and output.stat().st_size else None
    return Run(name, wall, cpu, peak / 1024, process.returncode, document, stderr)


def found(document: dict | None) -> str:
    if document is None:
        return "no output"
    if "components" in document:  # Trivy's CycloneDX
        count = 0
        stack = list(document.get("components", ()))
        while stack:
            component = stack.pop()
            count += bool(component.get("purl"))
            stack.extend(component.get("components", ()))
        return f"{count} packages"
    stats = document["stats"]
    limits = ", ".join(limit["limit"] for limit in document["limits_hit"]) or "no limit hit"
    return f"{len(document['packages'])} packages, {stats['files_seen']} files seen, {limits}"


def vigil(name: str, workers: int, skipped: list[str], work: Path) -> Run:
    out = work / f"vigil-{workers}.json"
    out.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    return measure(name, [sys.executable, "-c", COLLECT, str(out), str(workers), *skipped], out, env)


def trivy(skipped: list[str], work: Path) -> Run:
    out = work / "trivy.json"
    out.unlink(missing_ok=True)
    extra = [arg for folder in skipped for arg in ("--skip-dirs", folder)]
    return measure("trivy rootfs /", ["bash", str(PEERS), "trivy-rootfs", "/", str(out), *extra], out)


def content(document: dict) -> dict:
    """An inventory without its run metadata (when, how long, bytes read)."""
    kept = json.loads(json.dumps(document))
    del kept["collected_at"], kept["stats"]["duration_s"], kept["stats"]["bytes_read"]
    return kept


def differences(a: dict, b: dict, limit: int = 10) -> list[str]:
    """What differs between two inventories, by path, for a reader to judge (a live host changes)."""
    lines = [f"{key} differs" for key in a if a[key] != b.get(key) and key not in ("packages", "extractors")]
    packages_a = {(p["purl"], tuple(p["locations"])) for p in a["packages"]}
    packages_b = {(p["purl"], tuple(p["locations"])) for p in b["packages"]}
    lines += [f"only in the first: {p} at {loc[:2]}" for p, loc in sorted(packages_a - packages_b)[:limit]]
    lines += [f"only in the second: {p} at {loc[:2]}" for p, loc in sorted(packages_b - packages_a)[:limit]]
    for run_a, run_b in zip(a["extractors"], b["extractors"], strict=True):
        for field in ("files_read", "errors"):
            only_a = [x for x in run_a.get(field, ()) if x not in run_b.get(field, ())]
            only_b = [x for x in run_b.get(field, ()) if x not in run_a.get(field, ())]
            if only_a or only_b:
                lines.append(f"{run_a['name']} {field}: only first {only_a[:3]}, only second {only_b[:3]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", action="append", default=[], help="a folder both tools leave out")
    parser.add_argument("--no-trivy", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} (1 and 5 min); {len(os.sched_getaffinity(0))} CPUs")
    runs: dict[str, list[Run]] = {}
    identical = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} (load {os.getloadavg()[0]:.2f})")
            round_runs = [] if args.no_trivy else [trivy(args.skip, work)]
            round_runs.append(vigil("vigil, every CPU", 0, args.skip, work))
            round_runs.append(vigil("vigil, one process", 1, args.skip, work))
            for run in round_runs:
                print(run.line())
                runs.setdefault(run.name, []).append(run)
            shared, alone = round_runs[-2].document, round_runs[-1].document
            if shared is not None and alone is not None:
                same = content(shared) == content(alone)
                identical.append(same)
                print(f"  several processes and one process: {'identical' if same else 'DIFFERENT'}")
                for line in [] if same else differences(content(shared), content(alone)):
                    print(f"    {line}")
    print("median over the rounds")
    for name, measured in runs.items():
        ok = [r for r in measured if r.returncode == 0]
        if ok:
            print(f"  {name:22s} {statistics.median(r.wall for r in ok):6.2f} s wall"
                  f" {statistics.median(r.cpu for r in ok):6.2f} s CPU"
                  f" {statistics.median(r.rss_mb for r in ok):6.0f} MB peak")  # fmt: skip
    trivy_ok = [r.wall for r in runs.get("trivy rootfs /", []) if r.returncode == 0]
    vigil_ok = [r.wall for r in runs.get("vigil, every CPU", []) if r.returncode == 0]
    if trivy_ok and vigil_ok:
        ratio = statistics.median(vigil_ok) / statistics.median(trivy_ok)
        print(f"vigil / trivy wall: {ratio:.2f} (goal: at most 0.5)")
    print(f"several processes and one process identical in {sum(identical)} of {len(identical)} rounds")


if __name__ == "__main__":
    main()
