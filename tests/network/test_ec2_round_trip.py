"""Topologies written as EC2/ELB descriptions (`description_from_topology`) read back the same
(`topology_from_description`), and analyse the same: 200 generated topologies, the 10,000-instance account of
`benchmarks/network.py`, and what the shapes cannot say refused rather than written wrong."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

import pytest
from benchmarks.network import account
from tests.network.generate import random_topology

from vigil.network import (
    Listener,
    LoadBalancer,
    SecurityGroup,
    SecurityGroupRule,
    Target,
    TargetGroup,
    Topology,
    analyze,
    description_digest,
    description_from_topology,
    topology_from_description,
)
from vigil.network.ec2_writer import UndescribableTopologyError, classic_target_group_id
from vigil.network.results import CLASSIC_LOAD_BALANCER


def _normalised(topology: Topology) -> Topology:
    """The topology with the tuples the reader orders its own way sorted, and nothing else touched.

    The reader gives a security group's rules permission by permission, each permission's IPv4 ranges before
    its prefix lists before its groups (EC2 groups rules by protocol and ports); the listeners of one ELBv2
    listener id together; and the ELBv2 load balancers and target groups before the Classic ones (those come
    from `LoadBalancerDescriptions`, read last). Security groups are a union and the analysis looks listeners
    and target groups up by id, so none of these orders means anything; every other tuple (route tables,
    routes, ACL entries, subnets, interfaces' groups...) must come back in its own order.
    """
    return dataclasses.replace(
        topology,
        security_groups=tuple(
            dataclasses.replace(g, ingress=tuple(sorted(g.ingress, key=repr)))
            for g in topology.security_groups
        ),
        load_balancers=tuple(
            sorted(
                (
                    dataclasses.replace(lb, listeners=tuple(sorted(lb.listeners, key=repr)))
                    for lb in topology.load_balancers
                ),
                key=repr,
            )
        ),
        target_groups=tuple(sorted(topology.target_groups, key=repr)),
    )


def _port(port: int) -> int:
    return port or 1  # the ELB APIs' ports are 1..65535; the generator also draws 0


def _describable(topology: Topology) -> Topology:
    """The generated topology with what the ELB shapes cannot say made sayable, and nothing else changed:
    load balancer, target group and target ports of 0 become 1, and a Classic load balancer takes the form
    its description gives (per listener port, a target group of all the instances of the generated target
    group on its instance port; a second listener on the same port dropped)."""
    groups = {
        tg.target_group_id: dataclasses.replace(
            tg,
            port=_port(tg.port),
            targets=tuple(Target(t.id, None if t.port is None else _port(t.port)) for t in tg.targets),
        )
        for tg in topology.target_groups
    }
    load_balancers, made = [], []
    for lb in topology.load_balancers:
        if lb.type != "classic":
            listeners = tuple(dataclasses.replace(li, port=_port(li.port)) for li in lb.listeners)
            load_balancers.append(dataclasses.replace(lb, listeners=listeners))
            continue
        classic_listeners: dict[int, Listener] = {}
        for listener in lb.listeners:
            port = _port(listener.port)
            if port in classic_listeners:
                continue
            tg = groups[listener.target_group_id]
            tg_id = classic_target_group_id(lb.vpc_id, lb.load_balancer_id, port)
            instances = tuple(Target(i) for i in dict.fromkeys(t.id for t in tg.targets))
            made.append(TargetGroup(tg_id, tg.protocol, tg.port, instances))
            classic_listeners[port] = Listener(tg_id, listener.protocol, port, tg_id)
        load_balancers.append(dataclasses.replace(lb, listeners=tuple(classic_listeners.values())))
    return dataclasses.replace(
        topology, load_balancers=tuple(load_balancers), target_groups=(*groups.values(), *made)
    )


def _round_trip(topology: Topology) -> Topology:
    """Written, through JSON (as the store keeps a description), and read back."""
    description = description_from_topology(topology)
    description_digest(description)  # canonical JSON: raises if it is not
    return topology_from_description(json.loads(json.dumps(description)))


def test_200_generated_topologies_read_back_the_same_and_analyse_the_same() -> None:
    as_generated = with_findings = through_classic = 0
    for seed in range(200):
        generated = random_topology(seed)
        topology = _describable(generated)
        if topology == generated:
            as_generated += 1
        else:  # changed only where the writer refuses the generated one
            with pytest.raises(UndescribableTopologyError):
                description_from_topology(generated)
        back = _round_trip(topology)
        assert _normalised(back) == _normalised(topology), f"seed {seed}"
        findings = Counter(analyze(topology).findings)
        assert Counter(analyze(back).findings) == findings, f"seed {seed}"
        with_findings += bool(findings)
        through_classic += any(s.component_type == CLASSIC_LOAD_BALANCER for f in findings for s in f.steps)
    # the comparisons are not vacuous: most topologies round-trip as generated, many have findings, some
    # through a Classic load balancer
    counts = (as_generated, with_findings, through_classic)
    assert as_generated >= 100 and with_findings >= 40 and through_classic >= 3, counts


def test_the_benchmark_account_reads_back_the_same_and_analyses_the_same() -> None:
    topology = account(2_000, 40, 400, 80)  # the benchmark's generator at a fifth of its size
    back = _round_trip(topology)
    assert _normalised(back) == _normalised(topology)
    findings = analyze(topology).findings
    assert len(findings) > 200
    assert Counter(analyze(back).findings) == Counter(findings)


def test_a_description_read_writes_back_to_what_reads_the_same() -> None:
    """From the other side: an ELBv2 listener forwarding to two target groups (by its default action and a
    rule) and a Classic load balancer, as the APIs give them, read, written and read again."""
    description: dict[str, Any] = {
        "Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}],
        "Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"}],
        "LoadBalancers": [
            {
                "LoadBalancerArn": "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/1",
                "Type": "application",
                "Scheme": "internet-facing",
                "VpcId": "vpc-1",
                "AvailabilityZones": [{"SubnetId": "subnet-1", "ZoneName": "us-east-1a"}],
                "SecurityGroups": ["sg-lb"],
                "Listeners": [
                    {
                        "ListenerArn": "listener/app/web/1/443",
                        "Protocol": "HTTPS",
                        "Port": 443,
                        "DefaultActions": [{"Type": "forward", "TargetGroupArn": "tg/web"}],
                        "Rules": [{"Actions": [{"Type": "forward", "TargetGroupArn": "tg/api"}]}],
                    }
                ],
            }
        ],
        "TargetGroups": [
            {
                "TargetGroupArn": "tg/web",
                "Protocol": "HTTP",
                "Port": 80,
                "Targets": [{"Id": "i-1", "Port": 80}],
            },
            {"TargetGroupArn": "tg/api", "Protocol": "HTTP", "Port": 8080, "Targets": [{"Id": "i-2"}]},
        ],
        "LoadBalancerDescriptions": [
            {
                "LoadBalancerName": "legacy",
                "VPCId": "vpc-1",
                "Scheme": "internet-facing",
                "Subnets": ["subnet-1"],
                "SecurityGroups": ["sg-lb"],
                "ListenerDescriptions": [
                    {"Listener": {"Protocol": "TCP", "LoadBalancerPort": 22, "InstancePort": 2222}},
                    {
                        "Listener": {
                            "Protocol": "HTTPS",
                            "LoadBalancerPort": 443,
                            "InstanceProtocol": "HTTP",
                            "InstancePort": 80,
                        }
                    },
                ],
                "Instances": [{"InstanceId": "i-1"}, {"InstanceId": "i-2"}],
            }
        ],
    }
    topology = topology_from_description(description)
    assert [len(lb.listeners) for lb in topology.load_balancers] == [2, 2]
    written = description_from_topology(topology)
    assert _round_trip(topology) == topology
    (listener,) = written["LoadBalancers"][0]["Listeners"]
    forwarded = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert [g["TargetGroupArn"] for g in forwarded] == ["tg/web", "tg/api"]
    (classic,) = written["LoadBalancerDescriptions"]
    assert classic["Instances"] == [{"InstanceId": "i-1"}, {"InstanceId": "i-2"}]
    assert [d["Listener"]["InstancePort"] for d in classic["ListenerDescriptions"]] == [2222, 80]
    assert [tg["TargetGroupArn"] for tg in written["TargetGroups"]] == ["tg/web", "tg/api"]


def _with_load_balancer(lb: LoadBalancer, *target_groups: TargetGroup) -> Topology:
    return Topology(load_balancers=(lb,), target_groups=target_groups)


CLASSIC_TG = classic_target_group_id("vpc-1", "legacy", 80)
UNSAYABLE = {
    "a listener on port 0": _with_load_balancer(
        LoadBalancer("lb", "network", "internal", "vpc-1", (), (), (Listener("l", "TCP", 0, "tg"),))
    ),
    "a target on port 0": Topology(target_groups=(TargetGroup("tg", "TCP", 80, (Target("i-1", 0),)),)),
    "one listener id with two ports": _with_load_balancer(
        LoadBalancer(
            "lb",
            "application",
            "internal",
            "vpc-1",
            (),
            (),
            (Listener("l", "HTTP", 80, "tg-1"), Listener("l", "HTTP", 81, "tg-2")),
        )
    ),
    "a Classic listener to another target group": _with_load_balancer(
        LoadBalancer(
            "legacy", "classic", "internal", "vpc-1", (), (), (Listener(CLASSIC_TG, "HTTP", 80, "tg-1"),)
        ),
        TargetGroup("tg-1", "HTTP", 80, (Target("i-1"),)),
    ),
    "a Classic target with its own port": _with_load_balancer(
        LoadBalancer(
            "legacy", "classic", "internal", "vpc-1", (), (), (Listener(CLASSIC_TG, "HTTP", 80, CLASSIC_TG),)
        ),
        TargetGroup(CLASSIC_TG, "HTTP", 8080, (Target("i-1", 8081),)),
    ),
    "a rule with two sources": Topology(
        security_groups=(
            SecurityGroup("sg-1", "vpc-1", (SecurityGroupRule("tcp", 22, 22, "0.0.0.0/0", "pl-1"),)),
        )
    ),
    "two groups of one id": Topology(security_groups=(SecurityGroup("sg-1", "vpc-1"),) * 2),
}


@pytest.mark.parametrize("what", sorted(UNSAYABLE))
def test_what_the_shapes_cannot_say_is_refused(what: str) -> None:
    with pytest.raises(UndescribableTopologyError):
        description_from_topology(UNSAYABLE[what])
