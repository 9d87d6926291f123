"""The agent's listening sockets (real ones on loopback, /proc/net fixtures, a fake /proc) and the host
firewall's verdict (nft JSON and iptables-save samples; a real ruleset in a network namespace when nft is
here and we are root)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid

import pytest

from vigil.agent import firewall
from vigil.agent.firewall import (
    FirewallVerdict,
    PortRule,
    firewall_verdict,
    parse_iptables_save,
    parse_nft,
    summarise,
)
from vigil.agent.listeners import listening_sockets, parse_net, scan_listeners

# -- real sockets ----------------------------------------------------------------------------------------


def _ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def opened():
    sockets = []

    def open_(family, kind, address):
        s = socket.socket(family, kind)
        sockets.append(s)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((address, 0))
        if kind == socket.SOCK_STREAM:
            s.listen()
        return s

    yield open_
    for s in sockets:
        s.close()


def test_this_process_s_listeners_are_found_with_its_executable(opened):
    wanted = [("tcp", socket.AF_INET, "127.0.0.1"), ("tcp", socket.AF_INET, "0.0.0.0"),
              ("udp", socket.AF_INET, "127.0.0.1"), ("udp", socket.AF_INET, "0.0.0.0")]  # fmt: skip
    if _ipv6():
        wanted += [("tcp", socket.AF_INET6, "::1"), ("udp", socket.AF_INET6, "::1")]
    ports = {}
    for protocol, family, address in wanted:
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        ports[(protocol, address)] = opened(family, kind, address).getsockname()[1]
    server = opened(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")
    client = socket.create_connection(server.getsockname())
    connected_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected_udp.connect(("127.0.0.1", ports[("udp", "127.0.0.1")]))
    try:
        found = {(x.protocol, x.address, x.port): x for x in listening_sockets()}
        for (protocol, address), port in ports.items():
            listener = found[(protocol, address, port)]
            assert listener.pid == os.getpid()
            assert listener.executable == os.path.realpath(sys.executable)
            assert listener.process and not listener.exe_deleted
            assert listener.uid == os.geteuid()
            assert listener.loopback == (address != "0.0.0.0")
            assert listener.in_root is True
        assert ("tcp", "127.0.0.1", server.getsockname()[1]) in found
        assert all(x.port != client.getsockname()[1] for x in found.values())
        assert all(x.port != connected_udp.getsockname()[1] for x in found.values())
        assert found[("tcp", "127.0.0.1", ports[("tcp", "127.0.0.1")])].to_json()["exeDeleted"] is False
    finally:
        client.close()
        connected_udp.close()


# -- /proc/net text --------------------------------------------------------------------------------------

TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 6530 1 000000009368c585 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3955 1 000000009a3e49b3 100 0 0 10 0
   2: 0000000000000000FFFF00000A00000A:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3956 1 000000009a3e49b3 100 0 0 10 0
   3: B80D0120000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3957 1 000000009a3e49b3 100 0 0 10 0
   4: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3958 1 000000009a3e49b3 100 0 0 10 0
   5: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000   106        0 7001 1 000000009368c585 20 4 30 10 -1
   6: this line is not one
   7: ZZ000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 6531
   8: 0100007F:1F90 00000000:0000 0A
"""

UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 9001 2 0000000000000000 0
  101: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9002 2 0000000000000000 0
  102: 0100007F:A1B2 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 9003 2 0000000000000000 0
  103: 0100007F:0000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9004 2 0000000000000000 0
"""

little_endian = pytest.mark.skipif(
    sys.byteorder != "little", reason="the fixtures are a little-endian kernel's"
)


@little_endian
def test_tcp6_addresses_v4_mapped_and_v6():
    from vigil.agent.listeners import _Counts

    counts = _Counts()
    sockets = parse_net(TCP6.splitlines(), "tcp", counts)
    assert [(s.address, s.port, s.loopback, s.inode) for s in sockets] == [
        ("::1", 8080, True, 6530),
        ("::ffff:127.0.0.1", 80, True, 3955),
        ("::ffff:10.0.0.10", 443, False, 3956),
        ("2001:db8::1", 22, False, 3957),
        ("::", 22, False, 3958),
    ]  # the established line 5 is no listener
    assert counts.malformed == 3
    assert sockets[0].uid == 106


@little_endian
def test_udp_is_listening_while_unconnected():
    sockets = parse_net(UDP.splitlines(), "udp")
    assert [(s.address, s.port, s.loopback) for s in sockets] == [
        ("127.0.0.53", 53, True),
        ("0.0.0.0", 68, False),
    ]


# -- a fake /proc ----------------------------------------------------------------------------------------


def _fake_proc(tmp_path):
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net/tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n"
        "   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 222 1 0 100 0 0 10 0\n"
        "   2: 00000000:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 333 1 0 100 0 0 10 0\n"
        "   3: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 112 1 0 100 0 0 10 0\n"
        "   4: garbage\n"
    )
    (proc / "net/udp6").write_text("  sl  local_address remote_address st\n")
    container = tmp_path / "container"
    container.mkdir()

    def process(pid, comm, exe, uid, sockets, root="/"):
        base = proc / str(pid)
        (base / "fd").mkdir(parents=True)
        (base / "comm").write_text(comm + "\n")
        (base / "status").write_text(f"Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        os.symlink(exe, base / "exe")
        os.symlink(root, base / "root")
        os.symlink("/dev/null", base / "fd/0")
        os.symlink("pipe:[5]", base / "fd/1")
        for number, inode in enumerate(sockets, 3):
            os.symlink(f"socket:[{inode}]", base / f"fd/{number}")

    process(700, "nginx", "/usr/sbin/nginx", 33, [112])  # a SO_REUSEPORT worker
    process(120, "nginx", "/usr/sbin/nginx", 0, [111])
    process(121, "nginx", "/usr/sbin/nginx", 33, [111])
    process(300, "redis-server", "/usr/bin/redis-server (deleted)", 999, [222], root=str(container))
    unreadable = proc / "400"
    unreadable.mkdir()
    (unreadable / "fd").write_text("not a directory: as another user's would be")
    os.symlink(tmp_path / "gone", proc / "401")  # a process that exited
    (proc / "self").mkdir()
    return proc


def test_a_fake_proc_maps_inodes_to_processes(tmp_path):
    proc = _fake_proc(tmp_path)
    scan = scan_listeners("/", str(proc))
    by_port = {x.port: x for x in scan.listeners}
    nginx = by_port[80]
    assert (nginx.pid, nginx.process, nginx.executable, nginx.uid) == (120, "nginx", "/usr/sbin/nginx", 0)
    assert nginx.other_pids == 2  # 121 shares the socket, 700 holds another on the same address and port
    assert nginx.in_root is True and not nginx.loopback
    redis = by_port[5432]
    assert (redis.executable, redis.exe_deleted, redis.in_root, redis.loopback) == (
        "/usr/bin/redis-server",
        True,
        False,
        True,
    )
    orphan = by_port[9000]
    assert (orphan.pid, orphan.process, orphan.uid) == (None, None, 33)
    assert (scan.malformed, scan.unreadable_pids, scan.fds_complete) == (1, 2, True)
    assert scan.to_json()["listeners"][0]["otherPids"] == 2
    assert len(scan.listeners) == 3


def test_the_descriptor_scan_is_bounded(tmp_path):
    proc = _fake_proc(tmp_path)
    scan = scan_listeners("/", str(proc), max_fd_entries=3)
    assert not scan.fds_complete
    assert len(scan.listeners) == 3  # all listed, not all with their process
    ticks = iter(range(100))
    timed = scan_listeners("/", str(proc), fd_seconds=1.5, clock=lambda: float(next(ticks)))
    assert not timed.fds_complete


def test_no_proc_no_listeners(tmp_path):
    assert listening_sockets("/", str(tmp_path / "nothing")) == []


# -- nftables --------------------------------------------------------------------------------------------

# `nft -j list ruleset` (nft 1.0.6) of:
#   table inet filter {
#     set allowed { type inet_service; flags interval; elements = { 8000-8080, 9000 } }
#     chain input { type filter hook input priority 0; policy drop;
#       iif lo accept; ct state established,related accept; ct state invalid drop
#       meta l4proto { icmp, ipv6-icmp } accept; tcp dport 22 accept; tcp dport { 80, 443, 1000-2000 } accept
#       udp dport 53 accept; tcp dport @allowed accept; ip saddr 10.0.0.0/8 tcp dport 5432 accept
#       th dport 9999 counter reject; tcp dport != 3000 counter; iifname "eth0" udp dport 161 accept
#       tcp dport < 100 drop; tcp dport 5000-5100 jump extra; meta nfproto ipv6 udp dport 546 accept }
#     chain extra { tcp dport 5050 return; accept } }
#   table ip6 f6 { chain in { type filter hook input priority 10; policy accept; tcp dport 25 drop } }
NFT = json.loads("""{"nftables": [
    {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
    {"table": {"family": "inet", "name": "filter", "handle": 1}},
    {"set": {"family": "inet", "name": "allowed", "table": "filter", "type": "inet_service", "handle": 3, "flags": ["interval"], "elem": [{"range": [8000, 8080]}, 9000]}},
    {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "filter", "name": "extra", "handle": 2}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 5, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 6, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}}, {"drop": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 8, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["icmp", "ipv6-icmp"]}}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 9, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 11, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [80, 443, {"range": [1000, 2000]}]}}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 12, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 13, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": "@allowed"}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 14, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5432}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 15, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": 9999}}, {"counter": {"packets": 0, "bytes": 0}}, {"reject": {"type": "icmpx", "expr": "port-unreachable"}}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 16, "expr": [{"match": {"op": "!=", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 3000}}, {"counter": {"packets": 0, "bytes": 0}}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 17, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 161}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 18, "expr": [{"match": {"op": "<", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 100}}, {"drop": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 19, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [5000, 5100]}}}, {"jump": {"target": "extra"}}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 20, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 546}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "extra", "handle": 21, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5050}}, {"return": null}]}},
    {"rule": {"family": "inet", "table": "filter", "chain": "extra", "handle": 22, "expr": [{"accept": null}]}},
    {"table": {"family": "ip6", "name": "f6", "handle": 2}},
    {"chain": {"family": "ip6", "table": "f6", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 10, "policy": "accept"}},
    {"rule": {"family": "ip6", "table": "f6", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 25}}, {"drop": null}]}}
]}""")


def test_nft_input_chains_are_summarised():
    verdict = summarise("nftables", parse_nft(NFT))
    assert verdict.input_policy == "drop"
    assert PortRule("tcp", 1000, 2000, "accept") in verdict.rules
    assert PortRule("tcp", 5432, 5432, "unknown", "ipv4") in verdict.rules
    allowed = {p for p in (22, 80, 443, 1500, 5000, 5049, 5051, 8000, 8080, 9000) if verdict.allows("tcp", p)}
    assert allowed == {22, 80, 443, 1500, 5000, 5049, 5051, 8000, 8080, 9000}
    for port in (21, 25, 50, 3000, 5050, 8081, 9999, 65535):
        assert verdict.allows("tcp", port) is False, port
    assert verdict.allows("udp", 53) is True and verdict.allows("udp", 54) is False
    assert verdict.allows("udp", 546) is None  # accepted over IPv6 only
    assert (verdict.allows("udp", 546, "ipv6"), verdict.allows("udp", 546, "ipv4")) == (True, False)
    assert verdict.allows("tcp", 5432, "ipv4") is None  # from 10.0.0.0/8 only: not guessed
    assert verdict.allows("tcp", 5432, "ipv6") is False  # `ip saddr` cannot match IPv6
    assert verdict.allows("udp", 161) is None  # on eth0 only
    assert not verdict.exact
    assert any("ip saddr" in note for note in verdict.notes)
    rules = verdict.to_json()["rules"]
    assert {"protocol": "tcp", "from": 9999, "to": 9999, "action": "reject", "family": "any"} in rules


def test_a_condition_that_changes_nothing_keeps_the_verdict_exact():
    document = {"nftables": [
        {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}},
            {"accept": None}]}},
        {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [{"range": [6000, 6010]}]}}},
            {"xt": {"type": "match", "name": "multiport"}}, {"drop": None}]}},
        {"rule": {"family": "ip", "table": "filter", "chain": "unused", "expr": "not a list"}},
    ]}  # fmt: skip
    verdict = summarise("nftables", parse_nft(document))
    assert verdict.allows("tcp", 22, "ipv4") is True  # accepted from 10/8, and by the policy otherwise
    assert verdict.allows("tcp", 6005, "ipv4") is None  # the xt match is not interpreted
    assert verdict.allows("tcp", 22, "ipv6") is True  # an ip table filters IPv4 only
    assert not verdict.exact  # the xt match; and the rule that could not be read is noted
    assert any("not understood" in note for note in verdict.notes)


def test_an_empty_or_broken_nft_document():
    assert summarise("nftables", parse_nft({"nftables": []})) == FirewallVerdict(
        "nftables", "accept", [], True, []
    )
    broken = summarise("nftables", parse_nft(["nope"]))
    assert not broken.exact and broken.notes


# -- iptables --------------------------------------------------------------------------------------------

IPTABLES_SAVE = """\
# Generated by iptables-save v1.8.9 (nf_tables) on Thu Dec  3 19:36:30 2026
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 80 -j DROP
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:user-input - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "ssh in" -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443,8000:8100 -j ACCEPT
-A INPUT -p udp -m udp ! --dport 53 -j DROP
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 5432 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 9000:9100 -j user-input
-A INPUT -p tcp -m tcp --dport 7000 -j LOG --log-prefix "seven "
-A INPUT -p tcp -m tcp --dport 7000 -m comment --comment "unbalanced -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A user-input -p tcp -m tcp --dport 9050 -j RETURN
-A user-input -j ACCEPT
COMMIT
"""

IP6TABLES_SAVE = """\
*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 25 -j DROP
COMMIT
"""


def test_iptables_save_is_summarised():
    ruleset = parse_iptables_save(IPTABLES_SAVE, "ipv4")
    parse_iptables_save(IP6TABLES_SAVE, "ipv6", ruleset)
    verdict = summarise("iptables", ruleset)
    assert verdict.input_policy == "drop"
    for port in (22, 80, 443, 8000, 8100, 9000, 9100):
        assert verdict.allows("tcp", port, "ipv4") is True, port
    for port in (21, 8101, 9050, 7000, 65535):
        assert verdict.allows("tcp", port, "ipv4") is False, port
    assert verdict.allows("udp", 53, "ipv4") is True and verdict.allows("udp", 54, "ipv4") is False
    assert verdict.allows("tcp", 5432, "ipv4") is None
    assert verdict.allows("tcp", 22, "ipv6") is True and verdict.allows("tcp", 25, "ipv6") is False
    assert verdict.allows("tcp", 22) is True  # both families agree
    assert verdict.allows("tcp", 8101) is None  # they do not
    assert PortRule("tcp", 8101, 8999, "reject", "ipv4") in verdict.rules
    assert not verdict.exact and any("line" in note for note in verdict.notes)


def _runner(outputs):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv[0])
        assert kwargs["timeout"] and kwargs["capture_output"]
        answer = outputs.get(argv[0])
        if answer is None:
            raise FileNotFoundError(argv[0])
        code, out, err = answer
        return subprocess.CompletedProcess(argv, code, out, err)

    return run, calls


def test_the_verdict_comes_from_nft_first_then_iptables(tmp_path):
    run, calls = _runner({"nft": (0, json.dumps(NFT).encode(), b"")})
    assert firewall_verdict(run, str(tmp_path)).tool == "nftables"
    assert calls == ["nft"]
    save = (0, IPTABLES_SAVE.encode(), b"")
    run, calls = _runner({"iptables-save": save, "ip6tables-save": (0, IP6TABLES_SAVE.encode(), b"")})
    assert firewall_verdict(run, str(tmp_path)).tool == "iptables"
    run, _ = _runner({"iptables-save": save})
    no_v6 = firewall_verdict(run, str(tmp_path))
    assert no_v6.allows("tcp", 22, "ipv4") is True and no_v6.allows("tcp", 22, "ipv6") is None
    assert not no_v6.exact


def test_no_verdict_without_root_or_tools(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="vigil.agent")
    denied = (1, b"", b"Error: Could not process rule: Operation not permitted\n")
    run, _ = _runner({"nft": denied, "iptables-save": (4, b"", b"Permission denied (you must be root)\n")})
    assert firewall_verdict(run, str(tmp_path)) is None
    assert "Operation not permitted" in caplog.text
    assert firewall_verdict(_runner({})[0], str(tmp_path)) is None
    assert "not installed" in caplog.text


def test_an_empty_nft_ruleset_with_a_legacy_table_is_not_exact(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net/ip_tables_names").write_text("filter\n")
    run, calls = _runner({"nft": (0, b'{"nftables": [{"metainfo": {}}]}', b"")})
    verdict = firewall_verdict(run, str(tmp_path))
    assert calls == ["nft", "iptables-save"]
    assert verdict is not None and verdict.tool == "nftables" and not verdict.exact


def test_huge_or_unreadable_output_gives_no_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(firewall, "MAX_OUTPUT", 10)
    run, _ = _runner({"nft": (0, json.dumps(NFT).encode(), b"")})
    assert firewall_verdict(run, str(tmp_path)) is None
    run, _ = _runner({"nft": (0, b"{not json", b"")})
    assert firewall_verdict(run, str(tmp_path)) is None


# -- a real ruleset, in a network namespace of our own ---------------------------------------------------

RULESET = """\
table inet vigil_test {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    tcp dport { 22, 8000-8010 } accept
    udp dport 53 accept
  }
}
"""


@pytest.fixture
def namespace():
    if shutil.which("nft") is None or shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs nft, ip and root")
    name = f"vigil-test-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot create a network namespace")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_a_real_nft_ruleset_is_read_back(namespace, tmp_path):
    rules = tmp_path / "rules.nft"
    rules.write_text(RULESET)
    subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "-f", str(rules)], check=True, capture_output=True
    )

    def in_namespace(argv, **kwargs):
        return subprocess.run(["ip", "netns", "exec", namespace, *argv], **kwargs)

    verdict = firewall_verdict(in_namespace, str(tmp_path))
    assert verdict is not None and verdict.tool == "nftables" and verdict.exact
    assert verdict.input_policy == "drop"
    assert [r.to_json() for r in verdict.rules] == [
        {"protocol": "tcp", "from": 22, "to": 22, "action": "accept", "family": "any"},
        {"protocol": "tcp", "from": 8000, "to": 8010, "action": "accept", "family": "any"},
        {"protocol": "udp", "from": 53, "to": 53, "action": "accept", "family": "any"},
    ]
    assert verdict.allows("tcp", 8005) is True and verdict.allows("tcp", 80) is False
