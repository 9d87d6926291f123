"""The server's side of the heartbeat's network report: hostile reports refused with a message saying what is
wrong, good ones stored per instance on SQLite and PostgreSQL, and read back typed (the firewall's verdict on
a port included)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from vigil.agent import protocol
from vigil.agent.firewall import FirewallVerdict, PortRule
from vigil.enums import PackageManager
from vigil.fleet.listeners import (
    InvalidListenerReport,
    ListenerPackage,
    ListenerReports,
    ReportedListener,
    parse_report,
)
from vigil.store.engine import session_factory

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
ACCOUNT, OTHER_ACCOUNT = "111122223333", "444455556666"
NGINX = {
    "protocol": "tcp", "address": "0.0.0.0", "port": 443, "pid": 812, "process": "nginx",
    "executable": "/usr/sbin/nginx",
    "package": {"name": "nginx", "version": "1.22.1-9", "packageManager": "OS",
                "purl": "pkg:deb/debian/nginx@1.22.1-9?arch=amd64&distro=debian-12"},
}  # fmt: skip
DNS = {"protocol": "udp", "address": "::", "port": 53, "pid": None, "process": None, "executable": None}
FIREWALL = FirewallVerdict(
    "nftables", "drop", [PortRule("tcp", 443, 443, "accept"), PortRule("udp", 53, 53, "unknown")], False,
    ["nft inet filter input rule 7: ip saddr not interpreted"],
).to_json()  # fmt: skip


def report(listeners: list[Any], firewall: Any = FIREWALL, digest: str | None = None) -> dict[str, Any]:
    member: dict[str, Any] = {"listeners": listeners}
    if firewall is not None:
        member["firewall"] = firewall
    member["digest"] = digest or protocol.network_digest(listeners, firewall)
    return member


def _with(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


_DELETE = object()
HUGE = "x" * 100_000

HOSTILE = {
    "too many listeners": (report([DNS] * 4097), "at most 4096 listeners"),
    "listeners not a list": ({"digest": "0" * 64, "listeners": {"0": DNS}}, "network.listeners: a list"),
    "a listener not an object": (report([DNS, "tcp/22"]), "network.listeners[1]: an object"),
    "an unknown listener member": (
        report([{**DNS, "instanceId": "i-0other"}]),
        "network.listeners[0]: an object",
    ),
    "a port as text": (report([{**DNS, "port": "53"}]), "network.listeners[0].port: an integer"),
    "a port as a boolean": (report([{**DNS, "port": True}]), "port: an integer, 0 to 65535"),
    "a port past 65535": (report([{**DNS, "port": 65536}]), "port: an integer, 0 to 65535"),
    "a negative port": (report([{**DNS, "port": -1}]), "port: an integer, 0 to 65535"),
    "sctp": (report([{**DNS, "protocol": "sctp"}]), "network.listeners[0].protocol: tcp or udp"),
    "an address that is not one": (report([{**DNS, "address": "localhost"}]), "address: an IPv4 or IPv6"),
    "a huge address": (report([{**DNS, "address": HUGE}]), "address: a string of 1 to 45 characters"),
    "a huge process name": (report([{**NGINX, "process": HUGE}]), "process: a string of 1 to 256"),
    "a NUL in the process name": (report([{**NGINX, "process": "ng\x00inx"}]), "without NUL"),
    "a huge executable": (report([{**NGINX, "executable": "/" + HUGE}]), "executable: a string of 1 to 4096"),
    "a relative executable": (report([{**NGINX, "executable": "nginx"}]), "executable: null or an absolute"),
    "a pid as a float": (report([{**NGINX, "pid": 812.5}]), "pid: null or a process id"),
    "pid 0": (report([{**NGINX, "pid": 0}]), "pid: null or a process id"),
    "a package null instead of absent": (report([{**NGINX, "package": None}]), "package: an object"),
    "a package without its purl": (
        report([_with(NGINX, ("package", "purl"), _DELETE)]),
        "network.listeners[0].package: an object",
    ),
    "a purl that is not one": (report([_with(NGINX, ("package", "purl"), "nginx")]), "purl: a package URL"),
    "a huge package version": (report([_with(NGINX, ("package", "version"), HUGE)]), "version: a string"),
    "an unknown package manager": (
        report([_with(NGINX, ("package", "packageManager"), "CURL|BASH")]),
        "packageManager: one of",
    ),
    "a digest of another report": (
        report([NGINX], digest=protocol.network_digest([DNS], FIREWALL)),
        "network.digest: not the digest of this report",
    ),
    "a digest that is not hex": ({"digest": "Z" * 64}, "network.digest: 64 lowercase hex digits"),
    "a digest as a number": ({"digest": 7}, "network.digest: 64 lowercase hex digits"),
    "an unknown member": ({**report([NGINX]), "instanceId": "i-0other"}, "network: an object of"),
    "not an object": ([NGINX], "network: an object of"),
    "a firewall without listeners": (
        {"digest": "0" * 64, "firewall": FIREWALL},
        "a firewall without listeners",
    ),
    "a firewall rule from above to": (
        report([NGINX], _with(FIREWALL, ("rules", 0, "from"), 444)),
        "firewall.rules[0]: from 444 is above to 443",
    ),
    "a firewall rule port past 65535": (
        report([NGINX], _with(FIREWALL, ("rules", 0, "to"), 70_000)),
        "firewall.rules[0].to: a port",
    ),
    "a firewall action not one": (
        report([NGINX], _with(FIREWALL, ("rules", 1, "action"), "maybe")),
        "firewall.rules[1].action: one of",
    ),
    "a firewall of another tool": (
        report([NGINX], _with(FIREWALL, ("tool",), "pf")),
        "firewall.tool: one of",
    ),
    "a firewall exact as text": (report([NGINX], _with(FIREWALL, ("exact",), "yes")), "firewall.exact"),
    "a firewall with a huge note": (report([NGINX], _with(FIREWALL, ("notes",), [HUGE])), "firewall.notes"),
    "a firewall with too many rules": (
        report([NGINX], _with(FIREWALL, ("rules",), [FIREWALL["rules"][0]] * 40_005)),
        "firewall.rules: a list",
    ),
    "a firewall that is a list": (report([NGINX], [FIREWALL]), "network.firewall: an object"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_report_is_refused_saying_what_is_wrong(name):
    member, message = HOSTILE[name]
    with pytest.raises(InvalidListenerReport) as refused:
        parse_report(member)
    assert message in str(refused.value)
    assert len(str(refused.value)) < 400  # the refusal never echoes a huge value back


def test_a_full_report_of_4096_listeners_and_the_digest_alone_are_read():
    many = [{**DNS, "port": port} for port in range(1, 4097)]
    digest, listeners, firewall = parse_report(report(many, None))
    assert (len(listeners), firewall, digest) == (4096, None, protocol.network_digest(many, None))
    assert parse_report({"digest": digest}) == (digest, None, None)


@pytest.fixture
def reports(store_engine) -> ListenerReports:
    return ListenerReports(session_factory(store_engine))


def test_a_report_is_stored_per_instance_and_read_back_typed(reports):
    first = report([NGINX, DNS])
    assert reports.heartbeat(ACCOUNT, "i-0a", first, NOW) == {"digest": first["digest"]}
    reports.record(OTHER_ACCOUNT, "i-0a", [DNS], None, NOW)  # the same instance id in another account
    got = reports.of(ACCOUNT, ["i-0a", "i-0b"])
    assert list(got) == ["i-0a"]
    stored = got["i-0a"]
    assert stored.reported_at == NOW and stored.instance_id == "i-0a"
    assert stored.listeners[0] == ReportedListener(
        "tcp", "0.0.0.0", 443, 812, "nginx", "/usr/sbin/nginx",
        ListenerPackage("nginx", "1.22.1-9", NGINX["package"]["purl"], PackageManager.OS),
    )  # fmt: skip
    assert stored.listeners[1] == ReportedListener("udp", "::", 53, None, None, None, None)
    assert stored.listening("tcp", 443) == [stored.listeners[0]] and stored.listening("udp", 443) == []
    assert stored.firewall_allows("tcp", 443) is True
    assert stored.firewall_allows("tcp", 22) is False  # the input policy drops
    assert stored.firewall_allows("udp", 53) is None  # a rule the agent could not interpret
    assert reports.of(OTHER_ACCOUNT, ["i-0a"])["i-0a"].firewall_allows("tcp", 22) is None  # unreadable


def test_the_digest_alone_keeps_the_report_and_tells_what_the_server_holds(reports):
    first = report([NGINX])
    reports.heartbeat(ACCOUNT, "i-0a", first, NOW)
    later = NOW + dt.timedelta(minutes=1)
    assert reports.heartbeat(ACCOUNT, "i-0a", {"digest": first["digest"]}, later) == {
        "digest": first["digest"]
    }
    assert reports.of(ACCOUNT, ["i-0a"])["i-0a"].reported_at == NOW
    assert reports.heartbeat(ACCOUNT, "i-0b", {"digest": first["digest"]}, later) == {"digest": None}


def test_a_refused_report_changes_nothing(reports):
    first = report([NGINX])
    reports.heartbeat(ACCOUNT, "i-0a", first, NOW)
    answer = reports.heartbeat(
        ACCOUNT, "i-0a", report([{**DNS, "port": 70_000}]), NOW + dt.timedelta(hours=1)
    )
    assert answer["digest"] == first["digest"]
    assert answer["error"]["code"] == "InvalidNetworkReport" and "port" in answer["error"]["message"]
    stored = reports.of(ACCOUNT, ["i-0a"])["i-0a"]
    assert stored.reported_at == NOW and [x.port for x in stored.listeners] == [443]


def test_a_new_report_replaces_the_one_before(reports):
    reports.heartbeat(ACCOUNT, "i-0a", report([NGINX]), NOW)
    second = report([DNS], None)
    assert reports.heartbeat(ACCOUNT, "i-0a", second, NOW + dt.timedelta(minutes=5)) == {
        "digest": second["digest"]
    }
    stored = reports.of(ACCOUNT, ["i-0a"])["i-0a"]
    assert [x.port for x in stored.listeners] == [53] and stored.firewall is None
    assert reports.held_digest(ACCOUNT, "i-0a") == second["digest"]
