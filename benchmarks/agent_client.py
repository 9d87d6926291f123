"""What the agent costs its host: an OS inventory (CPU, memory), the agent idle between schedules, and the
weight of a plain install. Helpers for benchmarks/agent.py, and a measurement of their own:

    python benchmarks/agent_client.py [--idle-seconds 60] [--root /] [--no-install]

Without a server given, the agent runs against the agent tests' loopback protocol server (HTTPS on
127.0.0.1, a self-signed certificate pinned at registration): the figures are the agent's alone. Prints
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = REPO / "var" / "wheelhouse"
_TICKS = os.sysconf("SC_CLK_TCK")

# one OS inventory the way the agent takes it, in a fresh process: imports, collection, memory
_OS_INVENTORY = """
import json, sys, time
started = time.process_time()
from vigil.agent.collect import InventoryCollector
imported = time.process_time()
inventory = InventoryCollector(sys.argv[1]).collect("os")
done = time.process_time()
status = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("Vm")}
# VmHWM, not ru_maxrss: the latter keeps the peak of the forked parent's copy from before exec
print(json.dumps({"packages": len(inventory.document["packages"]), "import_cpu_s": imported - started,
                  "collect_cpu_s": done - imported, "total_cpu_s": done - started,
                  "rss_mb": status["VmRSS"] / 1024, "peak_rss_mb": status["VmHWM"] / 1024}))
"""


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds a process (all its threads) has used so far: from the scheduler's own count where the
    kernel shows it (an idle agent uses less than one 10 ms clock tick a minute), else from user + system
    clock ticks."""
    try:
        total_ms = 0.0
        for task in Path(f"/proc/{pid}/task").iterdir():
            line = next(li for li in (task / "sched").read_text().splitlines() if "sum_exec_runtime" in li)
            total_ms += float(line.split(":")[1])
        return total_ms / 1000
    except (OSError, ValueError, StopIteration):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"process {pid}: no VmRSS")


def idle_cpu_percent(pid: int, seconds: float, sleep: Callable[[float], None] = time.sleep) -> float:
    """The share of one CPU a process uses over `seconds` (100 = one CPU busy all the time)."""
    before, started = process_cpu_seconds(pid), time.monotonic()
    sleep(seconds)
    used, elapsed = process_cpu_seconds(pid) - before, time.monotonic() - started
    return 100.0 * used / elapsed


def os_inventory_cost(root: str = "/", python: str = sys.executable) -> dict[str, Any]:
    """One OS inventory in a fresh process, as the agent takes it: CPU seconds (imports and collection)
    and resident memory after it."""
    result = subprocess.run(
        [python, "-c", _OS_INVENTORY, root], capture_output=True, text=True, timeout=300, check=True
    )
    return dict(json.loads(result.stdout))


def install_weight(wheelhouse: Path = WHEELHOUSE, work: Path | None = None) -> dict[str, Any]:
    """`pip install vigil` (a wheel of this checkout, no extras, offline from the wheelhouse) into a fresh
    virtual environment: the size of its site-packages and what it holds."""
    if not (wheelhouse / ".built").exists():
        raise RuntimeError(f"no wheelhouse at {wheelhouse}: run `make wheelhouse`")
    with tempfile.TemporaryDirectory(dir=work) as temporary:
        base = Path(temporary)
        _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
             "-w", base / "dist", REPO)  # fmt: skip
        (wheel,) = (base / "dist").glob("vigil-*.whl")
        venv.create(base / "venv", with_pip=True)
        site = next((base / "venv/lib").glob("python3*/site-packages"))
        before = _size(site)  # pip itself, which any virtual environment has
        _run(base / "venv/bin/pip", "install", "-q", "--no-index", "--find-links", wheelhouse, wheel)
        after = _size(site)
        listed = _run(base / "venv/bin/pip", "list", "--format", "json")
        distributions = sorted(
            d["name"] for d in json.loads(listed) if d["name"] not in ("pip", "setuptools")
        )
        return {
            "site_packages_mb": round(after / 1e6, 1),
            "installed_mb": round((after - before) / 1e6, 1),
            "distributions": distributions,
        }


def start_agent(
    state: Path, root: str = "/", *, heartbeat: float = 60.0, poll: bool = False, python: str = sys.executable
) -> subprocess.Popen[str]:
    """`vigil agent run` as a process (stop it with `stop_agent`)."""
    command = [python, "-m", "vigil", "agent", "run", "--state", str(state), "--root", root,
               "--heartbeat", str(heartbeat), *(["--poll"] if poll else [])]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_agent(agent: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str]:
    """SIGTERM, then the exit status and what it logged."""
    agent.send_signal(signal.SIGTERM)
    _, stderr = agent.communicate(timeout=timeout)
    return agent.returncode, stderr


def wait_for_deliveries(
    state: Path, kinds: tuple[str, ...] = ("os", "full"), timeout: float = 300.0
) -> float:
    """Seconds until the server accepted an inventory of each kind (the agent's state says so)."""
    started = time.monotonic()
    while not all((state / f"accepted-{kind}.json").exists() for kind in kinds):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"no accepted inventory of each of {kinds} after {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def measure_running_agent(
    state: Path, root: str = "/", *, idle_seconds: float = 60.0, kinds: tuple[str, ...] = ("os", "full")
) -> dict[str, Any]:
    """Run the agent registered in `state`: CPU and memory once its first inventories are delivered, then
    its idle CPU over `idle_seconds` (one heartbeat a minute and the package-database watch)."""
    agent = start_agent(state, root)
    try:
        delivered_after = wait_for_deliveries(state, kinds)
        first = {"cpu_s": process_cpu_seconds(agent.pid), "rss_mb": process_rss_mb(agent.pid)}
        idle = idle_cpu_percent(agent.pid, idle_seconds)
        rss_idle = process_rss_mb(agent.pid)
    finally:
        returncode, stderr = stop_agent(agent)
    return {
        "first_deliveries_s": round(delivered_after, 2),
        "cpu_s_through_first_deliveries": round(first["cpu_s"], 3),
        "rss_mb_after_first_deliveries": round(first["rss_mb"], 1),
        "idle_cpu_percent": round(idle, 4),
        "idle_seconds": idle_seconds,
        "rss_mb_idle": round(rss_idle, 1),
        "exit_status_on_sigterm": returncode,
        "errors_logged": [line for line in stderr.splitlines() if ": ERROR: " in line],
    }


def _run(*command: str | Path) -> str:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))}: {result.stderr.strip()[-2000:]}")
    return result.stdout


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and not f.is_symlink())


def _with_loopback_server(root: str, idle_seconds: float, *, deep_inspection: bool) -> dict[str, Any]:
    """The running agent's figures against the agent tests' loopback protocol server."""
    sys.path.insert(0, str(REPO))
    from tests.agent.loopback import ACTIVATION_CODE, ACTIVATION_ID, LoopbackServer, make_certificate

    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        certificate = make_certificate(base / "certs", "server")
        with LoopbackServer(certificate) as server:
            if not deep_inspection:
                server.state.heartbeat["collect"]["full"] = None
            _run(sys.executable, "-m", "vigil", "agent", "register", "--server", server.url,
                 "--activation-id", ACTIVATION_ID, "--activation-code", ACTIVATION_CODE,
                 "--ca-cert", certificate.cert, "--state", base / "state", "--root", root)  # fmt: skip
            kinds = ("os", "full") if deep_inspection else ("os",)
            return measure_running_agent(base / "state", root, idle_seconds=idle_seconds, kinds=kinds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/", help="the tree the agent inventories (default: this host)")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--no-install", action="store_true", help="skip the install weight")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "load_average": os.getloadavg(),
        "os_inventory": os_inventory_cost(args.root),
        "agent_os_only": _with_loopback_server(args.root, args.idle_seconds, deep_inspection=False),
        "agent_with_deep_inspection": _with_loopback_server(
            args.root, args.idle_seconds, deep_inspection=True
        ),
    }
    if not args.no_install:
        report["install"] = install_weight()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
