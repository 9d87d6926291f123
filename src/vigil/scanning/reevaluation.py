"""Continuous re-evaluation (DESIGN §3.2, §5): when the advisory database gets a new version, only the
stored inventories holding a changed (namespace, package) key are evaluated again, and the findings and
`lastScannedAt` of the instances pointing at them are updated.

Each distinct inventory is matched once; the findings of each instance holding it are the same findings
named for that instance (its account, id and ARNs), as `evaluate` would give them one by one. After an
update, only what it can have changed is matched again: each package is matched on its own, so only the
packages under a changed key, and the vulnerabilities they had or now have (with those vulnerabilities'
other packages), are; the findings of those vulnerabilities alone are recorded, set-wise for every instance
holding the inventory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from sqlalchemy import select, tuple_, update

from vigil.advisories.namespaces import package_key
from vigil.findings.evaluate import Evaluation, FindingsReader, evaluate, findings_of
from vigil.findings.inspector import Resource, finding_arn, platform
from vigil.findings.model import Finding
from vigil.fleet.model import Instance, InstanceState
from vigil.inventory.model import Inventory, Package
from vigil.matching.match import TargetMatches, match_targets
from vigil.matching.model import Match
from vigil.matching.targets import LookupTarget, lookup_targets
from vigil.scanning.coverage import CLOSING_REASONS, EC2_INSTANCE_STOPPED, SCAN_IN_PROGRESS
from vigil.scanning.services import FleetServices
from vigil.scanning.state import read_state, write_state
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow

_LOOSE = re.compile(r"[-_.]+")
STATE_KEY = "advisories"  # {"version": the advisory database version the stored findings reflect}
_KEYS_PER_UPDATE = 500
_RECORDED_TOGETHER = 50  # instances' evaluations per transaction: it holds the store's write lock
_NAMED_MEMBERS = ("arn", "account_id", "resource_id")  # what names a finding for its instance
_SAME_MEMBERS = tuple(f.name for f in dataclasses.fields(Finding))[len(_NAMED_MEMBERS) :]
if tuple(f.name for f in dataclasses.fields(Finding))[: len(_NAMED_MEMBERS)] != _NAMED_MEMBERS:
    raise RuntimeError("Finding's first members are no longer arn, account_id, resource_id")
_NOT_REEVALUATED = CLOSING_REASONS | {EC2_INSTANCE_STOPPED, SCAN_IN_PROGRESS}


def evaluate_instances(
    inventory: Inventory, reader: FindingsReader, now: dt.datetime, instances: Iterable[Instance], region: str
) -> Iterator[tuple[Instance, Evaluation]]:
    """Each instance's evaluation of the inventory they all hold, matched once."""
    base: Evaluation | None = None
    rest: list[tuple[str, tuple[Any, ...]]] = []  # each finding's vulnerability and its other members
    for instance in instances:
        if base is None:
            base = evaluate(
                inventory, reader, now=now, account_id=instance.account_id,
                resource_id=instance.instance_id, region=region,
            )  # fmt: skip
            rest = [(f.vulnerability_id, tuple(getattr(f, n) for n in _SAME_MEMBERS)) for f in base.findings]
            yield instance, base
            continue
        resource = Resource(instance.account_id, region, instance.instance_id, platform(inventory.os))
        findings = tuple(
            Finding(finding_arn(resource, vulnerability), resource.account_id, resource.resource_id, *same)
            for vulnerability, same in rest
        )  # `dataclasses.replace` costs twice as much: 10,000 instances x 70 findings is its hot path
        yield instance, dataclasses.replace(base, findings=findings)


def _kept_holders(services: FleetServices, content_hashes: Collection[str]) -> dict[str, list[Instance]]:
    """Per inventory, the instances whose findings it makes: pointing at it, and neither stopped, excluded,
    ineligible nor being scanned (one coverage pass for all of them)."""
    wanted = sorted(content_hashes)
    holders: dict[tuple[str, str], str | None] = {}
    with services.sessions() as session:
        for start in range(0, len(wanted), _KEYS_PER_UPDATE):
            holders.update(
                ((account, instance), content_hash)
                for account, instance, content_hash in session.execute(
                    select(InstanceRow.account_id, InstanceRow.instance_id, InstanceRow.inventory_hash).where(
                        InstanceRow.inventory_hash.in_(wanted[start : start + _KEYS_PER_UPDATE]),
                        InstanceRow.state != InstanceState.TERMINATED.value,
                    )
                )
            )
    kept: dict[str, list[Instance]] = {h: [] for h in wanted}
    if not holders:
        return kept
    coverages = services.coverage.covered(
        {account for account, _ in holders}, instance_ids={instance for _, instance in holders}
    )
    for c in coverages:
        content_hash = holders.get(c.record.key)
        if content_hash and c.reason not in _NOT_REEVALUATED and c.record.closed_reason is None:
            kept[content_hash].append(c.instance)
    return kept


def evaluate_inventory(services: FleetServices, content_hash: str) -> list[str]:
    """Evaluate the stored inventory again for every instance whose findings it makes; returns their ids."""
    inventory = services.inventories.get(content_hash)
    if inventory is None:
        return []
    kept = _kept_holders(services, [content_hash])[content_hash]
    now = services.clock()
    batch: list[tuple[Instance, Evaluation]] = []
    for pair in evaluate_instances(inventory, services.advisories, now, kept, services.region):
        batch.append(pair)
        if len(batch) == _RECORDED_TOGETHER:
            services.findings.record_many(batch, now)
            batch = []
    if batch:
        services.findings.record_many(batch, now)
    _scanned(services, [(content_hash, kept)], now)
    return [i.instance_id for i in kept]


@dataclasses.dataclass
class PassCache:
    """What one re-evaluation pass (one database version) works out once for all the inventories it visits:
    each distinct package's matches, and each finding made of the same packages' matches (named for the
    instance that first needed it)."""

    matches: TargetMatches = dataclasses.field(default_factory=dict)
    findings: dict[tuple[Any, ...], Finding] = dataclasses.field(default_factory=dict)
    changed: set[str] = dataclasses.field(default_factory=set)  # the changed packages' names, loosely
    loose: dict[str, str] = dataclasses.field(default_factory=dict)  # a name, loosely
    # per first instance of an inventory, its open findings' vulnerabilities and their packages' names
    stored: dict[tuple[str, str], dict[str, set[str]]] = dataclasses.field(default_factory=dict)

    def loosely(self, name: str) -> str:
        """The name compared more loosely than `package_key` does in any namespace."""
        known = self.loose.get(name)
        if known is None:
            known = self.loose[name] = _LOOSE.sub("-", name).lower()
        return known

    def may_have_changed(self, package: Package) -> bool:
        """Whether the package may be looked up under a changed key (its name, its source's, or a signed
        kernel's `linux`)."""
        if self.loosely(package.name) in self.changed or package.name.startswith("linux-"):
            return True
        return package.source_name is not None and self.loosely(package.source_name) in self.changed


def reevaluate_inventory(
    services: FleetServices,
    content_hash: str,
    changed: Collection[tuple[str, str]],
    kept: list[Instance],
    cache: PassCache | None = None,
) -> list[str]:
    """After an update that changed these (namespace, package) keys, evaluate again what it can have
    changed in the inventory's findings, for the instances whose findings it makes (`kept`: their
    `lastScannedAt` is the caller's to move); returns their ids.

    The vulnerabilities re-evaluated: those the packages under a changed key now have, and those the first
    instance's open findings name one of them in (the findings of a stored inventory are the same on every
    instance holding it), each with all its packages.
    """
    inventory = services.inventories.get(content_hash)
    if inventory is None or not kept:
        return []
    first, now, reader = kept[0], services.clock(), services.advisories
    if cache is None:
        cache = PassCache()
    if not cache.changed:
        cache.changed = {cache.loosely(package) for _, package in changed} | {"linux"}
    matched = cache.matches
    candidates = lookup_targets(inventory, cache.may_have_changed)[0]
    # a package looked up under a changed key is matched again on all its lookups (an rpm's name and its
    # source rpm's), as matching the whole inventory would
    indexes = {t.index for t in candidates if (t.namespace, package_key(t.namespace, t.name)) in changed}
    touched = [t for t in candidates if t.index in indexes]
    names = {inventory.packages[t.index].name for t in touched}
    matches = list(match_targets(touched, reader, cache=matched).matches)
    key = (first.account_id, first.instance_id)
    if key not in cache.stored:
        cache.stored.update(services.findings.open_vulnerabilities([first]))
    stored = cache.stored.get(key, {})
    vulnerabilities = {m.vulnerability_id for m in matches}
    vulnerabilities |= {v for v, packages in stored.items() if packages & names}
    # a vulnerability's packages whose keys did not change were flagged for it before: its stored finding
    # names them, and they are matched too, so that its finding lists them all (matches are per package)
    others = set().union(*(stored.get(v, set()) for v in vulnerabilities)) - names
    targets = list(touched)
    if others:
        done = {t.index for t in touched}
        untouched = [
            t for t in lookup_targets(inventory, lambda p: p.name in others)[0] if t.index not in done
        ]
        matches += match_targets(untouched, reader, cache=matched).matches
        targets += untouched
    findings = _findings(services, inventory, targets, matches, vulnerabilities, first, now, cache)
    if vulnerabilities:
        services.findings.record_vulnerabilities(kept, vulnerabilities, findings, now, region=services.region)
    return [i.instance_id for i in kept]


def _findings(
    services: FleetServices,
    inventory: Inventory,
    targets: list[LookupTarget],
    matches: list[Match],
    vulnerabilities: set[str],
    first: Instance,
    now: dt.datetime,
    cache: PassCache,
) -> list[Finding]:
    """The first instance's findings of these vulnerabilities, each built once per pass from the same
    packages' matches (a finding is a function of them and of the OS: its remediation commands)."""
    groups: dict[str, list[Match]] = {}
    for match in matches:
        if match.vulnerability_id in vulnerabilities:
            groups.setdefault(match.vulnerability_id, []).append(match)
    package_targets: dict[int, list[LookupTarget]] = {}
    for target in targets:
        package_targets.setdefault(target.index, []).append(target)
    resource = Resource(first.account_id, services.region, first.instance_id, platform(inventory.os))
    findings = []
    for vulnerability, group in groups.items():
        key = (
            vulnerability,
            inventory.os,
            tuple(
                tuple(dataclasses.replace(t, index=0) for t in package_targets[m.package_index])
                for m in group
            ),
        )
        built = cache.findings.get(key)
        if built is None:
            (built,) = findings_of(
                group, inventory, services.advisories, now=now, account_id=first.account_id,
                resource_id=first.instance_id, region=services.region,
            )  # fmt: skip
            cache.findings[key] = built
        elif (built.account_id, built.resource_id) != (first.account_id, first.instance_id):
            built = dataclasses.replace(
                built, arn=finding_arn(resource, vulnerability), account_id=first.account_id,
                resource_id=first.instance_id,
            )  # fmt: skip
        findings.append(built)
    return findings


def _scanned_inventories(services: FleetServices, kept: dict[str, list[Instance]], now: dt.datetime) -> None:
    """`lastScannedAt` of the instances evaluated, set per inventory in one statement for each 500 of them,
    leaving out the instances pointing at them that were passed over (stopped, excluded, …)."""
    hashes = sorted(kept)
    evaluated = {(i.account_id, i.instance_id) for instances in kept.values() for i in instances}
    with services.sessions() as session:
        passed_over = []
        for start in range(0, len(hashes), _KEYS_PER_UPDATE):
            statement = select(InstanceRow.account_id, InstanceRow.instance_id).where(
                InstanceRow.inventory_hash.in_(hashes[start : start + _KEYS_PER_UPDATE])
            )
            for account, instance in session.execute(statement):
                if (account, instance) not in evaluated:
                    passed_over.append((account, instance))
    if len(passed_over) > _KEYS_PER_UPDATE:  # rare: instance by instance
        _scanned(services, list(kept.items()), now)
        return
    with transaction(services.sessions) as session:
        for start in range(0, len(hashes), _KEYS_PER_UPDATE):
            chosen = [InstanceRow.inventory_hash.in_(hashes[start : start + _KEYS_PER_UPDATE])]
            if passed_over:
                chosen.append(~tuple_(InstanceRow.account_id, InstanceRow.instance_id).in_(passed_over))
            session.execute(update(InstanceRow).where(*chosen).values(last_scanned_at=now))


def _scanned(services: FleetServices, evaluated: list[tuple[str, list[Instance]]], now: dt.datetime) -> None:
    """`lastScannedAt` of the instances evaluated, per inventory (unless a scan pointed one at another
    inventory meanwhile), in one transaction."""
    with transaction(services.sessions) as session:
        for content_hash, instances in evaluated:
            keys = [(i.account_id, i.instance_id) for i in instances]
            for start in range(0, len(keys), _KEYS_PER_UPDATE):
                session.execute(
                    update(InstanceRow)
                    .where(
                        tuple_(InstanceRow.account_id, InstanceRow.instance_id).in_(
                            keys[start : start + _KEYS_PER_UPDATE]
                        ),
                        InstanceRow.inventory_hash == content_hash,
                    )
                    .values(last_scanned_at=now)
                )


def reevaluate(services: FleetServices) -> dict[str, Any]:
    """Evaluate what a new advisory database version changed; the first call only notes the version.

    A database whose version went back (replaced by an older one) has every stored inventory evaluated.
    """
    services.advisories.refresh()  # another process's commit (`vigil db import`) is matched, not a cache
    current = services.advisories.version
    known = read_state(services.sessions, STATE_KEY)
    if known is None:
        write_state(services.sessions, STATE_KEY, {"version": current})
        return {"version": current, "inventories": 0, "instances": 0}
    since = int(known["version"])
    if current == since:
        return {"version": current, "inventories": 0, "instances": 0}
    if current > since:
        keys = {(k.namespace, k.package) for k in services.advisories.changed_keys(since)}
        hashes = services.inventories.holders(keys)
        kept = _kept_holders(services, hashes)
        cache = PassCache()
        firsts = [kept[h][0] for h in hashes if kept[h]]
        cache.stored = {(i.account_id, i.instance_id): {} for i in firsts}
        cache.stored.update(services.findings.open_vulnerabilities(firsts))
        instances = sum(
            len(reevaluate_inventory(services, h, keys, kept[h], cache))
            for h in services.inventories.in_memory_first(hashes)
        )
        _scanned_inventories(services, kept, services.clock())
    else:
        hashes = services.inventories.stored()
        instances = sum(len(evaluate_inventory(services, h)) for h in sorted(hashes))
    write_state(services.sessions, STATE_KEY, {"version": current})
    return {"version": current, "since": since, "inventories": len(hashes), "instances": instances}
