"""The inventory diff the agent sends: edits of the base's package list that give back the new list exactly,
and a real inventory rebuilt from its diff with the content hash the agent claims."""

from __future__ import annotations

import random

import pytest
from tests.agent.conftest import add_package

from vigil.agent import protocol
from vigil.agent.collect import InventoryCollector
from vigil.inventory.model import Inventory


def _packages(names):
    return [{"name": n, "version": "1.0", "ecosystem": "deb"} for n in names]


@pytest.mark.parametrize(
    ("base", "new"),
    [
        (["a", "b", "c"], ["a", "b", "c"]),
        (["a", "b", "c"], ["a", "c"]),  # removed
        (["a", "b", "c"], ["a", "b", "x", "c", "y"]),  # added
        (["a", "b", "c", "d"], ["d", "c", "b", "a"]),  # reordered
        ([], ["a"]),
        (["a"], []),
    ],
)
def test_the_edits_give_back_the_new_list(base, new):
    edits = protocol.package_edits(_packages(base), _packages(new))
    assert protocol.apply_edits(_packages(base), edits, limit=10_000) == _packages(new)


def test_random_changes_round_trip():
    rng = random.Random(8)
    for _ in range(200):
        base = _packages(rng.sample(range(1000), rng.randrange(0, 60)))
        new = [p for p in base if rng.random() > 0.1] + _packages(
            rng.sample(range(1000, 2000), rng.randrange(0, 5))
        )
        if rng.random() < 0.2:
            rng.shuffle(new)
        edits = protocol.package_edits(base, new)
        assert protocol.apply_edits(base, edits, limit=10_000) == new


def test_a_version_change_carries_only_that_package():
    base = _packages([f"p{i}" for i in range(500)])
    new = [dict(p) for p in base]
    new[250]["version"] = "2.0"
    edits = protocol.package_edits(base, new)
    assert protocol.diff_size(edits) == 1


def test_a_real_inventory_is_rebuilt_from_its_diff_with_the_claimed_hash(rootfs):
    collector = InventoryCollector(str(rootfs))
    before = collector.collect("os")
    add_package(rootfs, "nginx", "1.22.1-9")
    after = collector.collect("os")
    assert before.content_hash != after.content_hash
    edits = protocol.package_edits(before.document["packages"], after.document["packages"])
    assert protocol.diff_size(edits) == 1
    document = {k: v for k, v in after.document.items() if k != "packages"}
    rebuilt = {**document, "packages": protocol.apply_edits(before.document["packages"], edits, limit=5000)}
    assert Inventory.from_json(rebuilt).content_hash == after.content_hash


def test_the_two_kinds_differ_by_the_language_packages(rootfs):
    collector = InventoryCollector(str(rootfs))
    os_inventory = collector.collect("os")
    full = collector.collect("full", ["/opt/shop"])
    ecosystems = {p.get("ecosystem") or p.get("type") for p in full.document["packages"]} - {
        p.get("ecosystem") or p.get("type") for p in os_inventory.document["packages"]
    }
    assert ecosystems  # npm, PyPI, Maven under the custom path
    assert len(full.document["packages"]) > len(os_inventory.document["packages"])
    assert collector.collect("os").content_hash == os_inventory.content_hash  # stable: the diff base holds
