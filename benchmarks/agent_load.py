"""Many agents against one server (issue "Agent-based scanning"): a load generator speaking the real agent
protocol to a real `vigil server run` process over TLS on loopback.

    PYTHONPATH=src:. python benchmarks/agent_load.py [--agents 500] [--distinct 50] [--threads 32]
        [--heartbeats 5] [--workdir DIR]

1. `vigil server init`, the shared advisory corpus as its advisory database, EC2 scanning enabled, one
   activation for all the agents;
2. every agent registers (`/agent/v1/register`);
3. every agent sends its first OS inventory whole: `--distinct` Debian 11 inventories of this host's real
   package list, versions varied over the Debian 11 fixes (`fleet_scanning.inventories`), shared among the
   agents as identical machines share them; each is matched, its findings recorded, coverage updated before
   the answer: inventories accepted per second;
4. `--heartbeats` rounds of every agent's heartbeat as fast as `--threads` clients can send them (the
   server's capacity), then one round paced as a fleet beats (every agent once over `--window` s, 60 s:
   once a minute each): p50/p95 latency, the server's CPU share;
5. the server process's CPU seconds over each phase and its peak RSS (from /proc).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import fleet_scanning as synthetic  # noqa: E402  (Debian 11 inventories, the advisory corpus)
from vigil.agent import protocol  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process and its reaped children used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def server_rss(pid: int) -> tuple[float, float]:
    """(current, peak) RSS of the process in MiB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


class Fleet:
    """The agents' identities and a pool of HTTPS connections to the server (one per thread)."""

    def __init__(self, endpoint: str, ca_cert: Path) -> None:
        self.endpoint = endpoint
        self.context = ssl.create_default_context(cafile=str(ca_cert))
        self.local = threading.local()

    def http(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(verify=self.context, timeout=120)
        return client

    def register(self, activation: dict[str, str], index: int) -> dict[str, Any]:
        body = {**activation, "platform": "LINUX", "hints": {"machineId": f"{index:032x}"}}
        answer = self.http().post(self.endpoint + protocol.REGISTER, json=body)
        answer.raise_for_status()
        return dict(answer.json())

    def signed(
        self, agent: dict[str, Any], path: str, message: dict[str, Any]
    ) -> tuple[float, dict[str, Any]]:
        body = json.dumps(message, separators=(",", ":")).encode()
        headers = protocol.signed_headers(
            agent["secret"], agent["agentId"], "POST", path, body, dt.datetime.now(dt.UTC)
        )
        started = time.perf_counter()
        answer = self.http().post(self.endpoint + path, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
        return elapsed, dict(answer.json())


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.server import LiveServer, init_server

    work = Path(args.workdir or tempfile.mkdtemp(prefix="vigil-agent-load-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = synthetic.advisory_db(work, args.corpus)
    made = synthetic.inventories(corpus, args.distinct)
    directory = work / f"server-{int(time.time())}"
    server = LiveServer(directory, init_server(directory))
    (directory / "advisories.db").write_bytes(corpus.read_bytes())
    server.start()
    try:
        return _measure(args, server, made)
    finally:
        server.stop()


def _measure(args: argparse.Namespace, server: Any, made: list[Any]) -> dict[str, Any]:
    pid = server.process.pid
    server.client().enable(resourceTypes=["EC2"])
    activation = server.request(
        "POST", "/vigil/v1/activations", json_body={"registrationLimit": args.agents}
    ).json()
    fleet = Fleet(server.endpoint, server.ca_cert)
    figures: dict[str, Any] = {
        "agents": args.agents,
        "distinct_inventories": len(made),
        "threads": args.threads,
    }
    documents = [(i.content_hash, i.to_json()) for i in made]
    with ThreadPoolExecutor(args.threads) as pool:
        cpu, started = server_cpu(pid), time.perf_counter()
        agents = list(pool.map(lambda i: fleet.register(activation, i), range(args.agents)))
        elapsed = time.perf_counter() - started
        figures["register"] = {
            "per_s": round(args.agents / elapsed, 1),
            "server_cpu_s": round(server_cpu(pid) - cpu, 2),
        }

        def first_inventory(index: int) -> float:
            content_hash, document = documents[index % len(documents)]
            message = {"kind": "os", "contentHash": content_hash, "document": document}
            return fleet.signed(agents[index], protocol.INVENTORY, message)[0]

        cpu, started = server_cpu(pid), time.perf_counter()
        latencies = list(pool.map(first_inventory, range(args.agents)))
        elapsed = time.perf_counter() - started
        figures["inventories"] = {
            "accepted_per_s": round(args.agents / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(statistics.quantiles(latencies, n=20)[-1] * 1000, 1),
            "server_cpu_s": round(server_cpu(pid) - cpu, 2),
            "packages_each": len(made[0].packages),
        }

        def beat(index: int) -> float:
            return fleet.signed(agents[index], protocol.HEARTBEAT, {"agentVersion": "bench"})[0]

        cpu, started = server_cpu(pid), time.perf_counter()
        beats = [latency for _ in range(args.heartbeats) for latency in pool.map(beat, range(args.agents))]
        elapsed = time.perf_counter() - started
        figures["heartbeats"] = {
            "count": len(beats),
            "per_s": round(len(beats) / elapsed, 1),
            "p50_ms": round(statistics.median(beats) * 1000, 1),
            "p95_ms": round(statistics.quantiles(beats, n=20)[-1] * 1000, 1),
            "max_ms": round(max(beats) * 1000, 1),
            "server_cpu_s": round(server_cpu(pid) - cpu, 2),
        }
        # as a fleet runs: every agent's heartbeat once a minute, spread over the minute (here over
        # `--window` seconds, the same rate when the window is scaled to the agents: 500 per 60 s)
        window = args.window
        cpu, started = server_cpu(pid), time.perf_counter()

        def paced(index: int) -> float:
            delay = started + window * index / args.agents - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            return beat(index)

        paced_beats = list(pool.map(paced, range(args.agents)))
        elapsed = time.perf_counter() - started
        figures["heartbeats_paced"] = {
            "rate_per_s": round(args.agents / window, 1),
            "p50_ms": round(statistics.median(paced_beats) * 1000, 1),
            "p95_ms": round(statistics.quantiles(paced_beats, n=20)[-1] * 1000, 1),
            "server_cpu_share": round((server_cpu(pid) - cpu) / elapsed, 3),
        }
    coverage = server.client().list_coverage_statistics(groupBy="SCAN_STATUS_REASON")
    figures["coverage"] = {g["groupKey"]: g["count"] for g in coverage["countsByGroup"]}
    rss, peak = server_rss(pid)
    figures["server_rss_mib"] = {"now": round(rss, 1), "peak": round(peak, 1)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--heartbeats", type=int, default=5)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which the paced round beats")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--corpus", type=Path, default=HERE.parents[1] / "shared" / "data" / "advisories")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
