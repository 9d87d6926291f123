"""The heartbeat's network report: listeners of a made /proc (loopback ones left out) with the dpkg package
owning each executable, the firewall verdict; sent whole when it changed, as a digest otherwise, and a
refused one not sent again until it changes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.agent.fakes import IDENTITY, FakeClient, FakeClock, FakeCollector, FakeWatcher
from tests.agent.test_ownership import debian_tree

from vigil.agent import protocol
from vigil.agent.backoff import Backoff
from vigil.agent.firewall import FirewallVerdict, PortRule
from vigil.agent.listening import NetworkReporter
from vigil.agent.runner import AgentRunner
from vigil.agent.state import StateDir

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
SSH = "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0\n"
LOOPBACK = (
    "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0\n"
)
WEB = "   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 333 1 0\n"
VERDICT = FirewallVerdict("nftables", "drop", [PortRule("tcp", 22, 22, "accept")], True)


class Host:
    """A Debian tree and a /proc of its processes: dash holds :22 and 127.0.0.1:8080; python3.11 :8080
    once `serve_web()` ran."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = debian_tree(tmp_path / "root")
        self.proc = tmp_path / "proc"
        (self.proc / "net").mkdir(parents=True)
        self.lines = [SSH, LOOPBACK]
        self._write()
        self.process(100, "dash", "/usr/bin/dash", [111, 222])
        self.firewall: FirewallVerdict | None = VERDICT
        self.reporter = NetworkReporter(str(self.root), str(self.proc), firewall=lambda: self.firewall)

    def _write(self) -> None:
        (self.proc / "net/tcp").write_text(HEADER + "".join(self.lines))

    def process(self, pid: int, comm: str, exe: str, sockets: list[int]) -> None:
        base = self.proc / str(pid)
        (base / "fd").mkdir(parents=True)
        (base / "comm").write_text(comm + "\n")
        (base / "status").write_text(f"Name:\t{comm}\nUid:\t0\t0\t0\t0\n")
        os.symlink(exe, base / "exe")
        os.symlink(self.root, base / "root")
        for number, inode in enumerate(sockets, 3):
            os.symlink(f"socket:[{inode}]", base / f"fd/{number}")

    def serve_web(self) -> None:
        self.process(200, "python3", "/usr/bin/python3.11", [333])
        self.lines.append(WEB)
        self._write()


def test_the_report_names_each_non_loopback_listener_s_process_and_package(tmp_path):
    host = Host(tmp_path)
    host.serve_web()
    report = host.reporter.report()
    assert [(x["address"], x["port"]) for x in report.listeners] == [("0.0.0.0", 22), ("0.0.0.0", 8080)]
    ssh, web = report.listeners
    assert ssh == {
        "protocol": "tcp", "address": "0.0.0.0", "port": 22, "pid": 100, "process": "dash",
        "executable": "/usr/bin/dash",
        "package": {"name": "dash", "version": "0.5.12-2", "packageManager": "OS",
                    "purl": "pkg:deb/debian/dash@0.5.12-2?arch=amd64&distro=debian-12"},
    }  # fmt: skip
    assert (web["process"], web["package"]["name"]) == ("python3", "python3.11-minimal")
    assert report.firewall == VERDICT.to_json()
    assert report.digest == protocol.network_digest(report.listeners, report.firewall)


def test_a_listener_without_a_package_or_process_or_firewall_says_so_by_absence(tmp_path):
    host = Host(tmp_path)
    host.lines.append(WEB)  # no process of ours holds it (another user's)
    host._write()
    host.firewall = None
    os.unlink(host.proc / "100/exe")
    os.symlink("/usr/bin/dash (deleted)", host.proc / "100/exe")  # dash upgraded since it started
    report = host.reporter.report()
    ssh, web = report.listeners
    assert ssh["executable"] == "/usr/bin/dash" and "package" not in ssh
    assert (web["pid"], web["process"], web["executable"]) == (None, None, None) and "package" not in web
    assert report.firewall is None and "firewall" not in report.member(None)


class NetworkServer(FakeClient):
    """Holds the last network report it accepted, as the server does; `refuse` refuses the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self.held: str | None = None
        self.refuse = False

    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = super().heartbeat(payload)
        member = payload.get(protocol.NETWORK_MEMBER)
        if member is None:
            return answer
        if "listeners" in member and self.refuse:
            answer["network"] = {
                "digest": self.held,
                "error": {"code": "InvalidNetworkReport", "message": "no"},
            }
        else:
            if "listeners" in member:
                self.held = member["digest"]
            answer["network"] = {"digest": self.held}
        return answer

    def members(self) -> list[str]:
        """What each heartbeat carried: whole, digest or none."""
        return [
            "none" if (m := p.get("network")) is None else "whole" if "listeners" in m else "digest"
            for p in self.sent("heartbeat")
        ]


def _runner(tmp_path: Path, host: Host, client: NetworkServer, clock: FakeClock) -> AgentRunner:
    state = StateDir(tmp_path / "state")
    state.save_identity(IDENTITY)
    return AgentRunner(
        identity=IDENTITY, state=state, client=client, collector=FakeCollector(), watcher=FakeWatcher(clock),
        clock=clock, backoff=Backoff(random=lambda: 0.0), network=host.reporter,
    )  # fmt: skip


def _beat(runner: AgentRunner, clock: FakeClock) -> None:
    runner.step()
    clock.now += runner.heartbeat_every


def test_a_changed_report_is_sent_whole_and_an_unchanged_one_as_its_digest(tmp_path):
    host, client, clock = Host(tmp_path), NetworkServer(), FakeClock()
    runner = _runner(tmp_path, host, client, clock)
    for _ in range(3):
        _beat(runner, clock)
    host.serve_web()
    for _ in range(2):
        _beat(runner, clock)
    assert client.members() == ["whole", "digest", "digest", "whole", "digest"]
    beats = client.sent("heartbeat")
    assert beats[1]["network"] == {"digest": beats[0]["network"]["digest"]}
    assert [x["port"] for x in beats[3]["network"]["listeners"]] == [22, 8080]
    assert client.held == beats[3]["network"]["digest"] == beats[4]["network"]["digest"]
    assert host.reporter.owners.lookups == 2  # dash once, python3.11 when it appeared


def test_a_server_that_lost_the_report_gets_it_whole_again(tmp_path):
    host, client, clock = Host(tmp_path), NetworkServer(), FakeClock()
    runner = _runner(tmp_path, host, client, clock)
    _beat(runner, clock)
    client.held = None  # restored from a backup older than the report
    _beat(runner, clock)  # the digest: the server answers that it holds none
    _beat(runner, clock)
    assert client.members() == ["whole", "digest", "whole"]


def test_a_refused_report_is_not_sent_again_until_it_changes(tmp_path, caplog):
    host, client, clock = Host(tmp_path), NetworkServer(), FakeClock()
    client.refuse = True
    runner = _runner(tmp_path, host, client, clock)
    for _ in range(3):
        _beat(runner, clock)
    client.refuse = False
    host.serve_web()
    _beat(runner, clock)
    assert client.members() == ["whole", "digest", "digest", "whole"]
    assert [r.message for r in caplog.records].count("network report refused: InvalidNetworkReport: no") == 1
    assert runner.heartbeats == 4  # the refusal cost the agent nothing else


def test_the_heartbeat_goes_on_without_a_report_when_it_cannot_be_made_or_the_instance_is_excluded(tmp_path):
    host, client, clock = Host(tmp_path), NetworkServer(), FakeClock()
    runner = _runner(tmp_path, host, client, clock)

    def broken() -> None:
        raise OSError("proc is gone")

    working = host.reporter.scan
    host.reporter.scan = lambda root, proc: broken()  # type: ignore[assignment,func-returns-value]
    _beat(runner, clock)
    host.reporter.scan = working
    client.heartbeat_answer["excluded"] = True  # the answer to the next heartbeat
    _beat(runner, clock)
    _beat(runner, clock)
    assert client.members() == ["none", "whole", "none"]
    assert runner.heartbeats == 3
