"""The server keeps its last analyses: a description whose only change is in security groups is analysed
again incrementally, and gives what a whole analysis gives; any other change is analysed whole."""

from __future__ import annotations

import dataclasses

import pytest
from tests.network.generate import changed_group, random_topology

from vigil.network import Subnet, analyze
from vigil.scanning.network_scan import AnalysisCache


def _found(analysis):
    return sorted(analysis.findings, key=repr)


@pytest.mark.parametrize("seed", range(20))
def test_a_changed_group_is_analysed_incrementally_and_gives_a_whole_analysis(seed: int) -> None:
    cache = AnalysisCache()
    topology = random_topology(seed)
    first = cache.analysis("111122223333", "aws", topology)
    changed = topology.with_security_group(changed_group(topology, seed))
    again = cache.analysis("111122223333", "aws", changed)
    assert again is first  # updated in place, not analysed whole
    assert _found(again) == _found(analyze(changed))


def test_any_other_change_is_analysed_whole_and_the_cache_is_bounded() -> None:
    cache = AnalysisCache(size=2)
    topology = random_topology(3)
    first = cache.analysis("111122223333", "aws", topology)
    subnet = topology.subnets[0]
    moved = dataclasses.replace(topology, subnets=(Subnet(subnet.subnet_id, subnet.vpc_id, "10.99.0.0/24"),
                                                   *topology.subnets[1:]))  # fmt: skip
    whole = cache.analysis("111122223333", "aws", moved)
    assert whole is not first and _found(whole) == _found(analyze(moved))
    gone = dataclasses.replace(moved, security_groups=moved.security_groups[1:])
    kept = cache.analysis("111122223333", "aws", gone)
    assert kept is not whole  # a group went: whole
    assert cache.analysis("111122223333", "aws", gone) is kept  # nothing changed: the same analysis
    cache.analysis("444455556666", "aws", topology)
    cache.analysis("777788889999", "aws", topology)
    assert cache.analysis("111122223333", "aws", gone) is not kept  # evicted: analysed anew
