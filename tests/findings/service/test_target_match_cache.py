"""A package's matches are a function of its lookup targets: matched once and reused for every inventory
holding the same package (a fleet's re-evaluation), they are exactly what matching each inventory gives,
for dpkg, rpm (also looked up by its source rpm), language packages and an OS past its end of life."""

from __future__ import annotations

import dataclasses

from vigil.matching.match import TargetMatches, match_inventory, match_targets
from vigil.matching.targets import lookup_targets


def test_matches_reused_across_inventories_are_those_of_each_inventory_alone(inventories, advisory_db):
    alma = inventories["alma"]
    renamed = [dataclasses.replace(p, source_name=f"{p.name}-libs") for p in alma.packages if p.type == "rpm"]
    assert renamed
    split = dataclasses.replace(alma, packages=(*alma.packages, *renamed))  # binaries of another source rpm
    cache: TargetMatches = {}
    for _ in range(2):  # the second time, every package comes from the cache
        for name, inventory in {**inventories, "split": split}.items():
            targets, skipped = lookup_targets(inventory)
            cached = match_targets(targets, advisory_db, skipped, cache=cache)
            assert cached == match_inventory(inventory, advisory_db), name
    assert any(matches for matches in cache.values())
    assert any(len(key) == 2 for key in cache)  # an rpm looked up by its name and its source rpm's
