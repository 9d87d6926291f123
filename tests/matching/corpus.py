"""Installed packages at the versions real records name, to check findings against the records themselves.

For every package an advisory database names, the versions its records mention (introduced, fixed,
last affected, listed versions, and the scheme's lowest version for ranges from 0) become packages of
an inventory of the right OS; scanning those inventories and then the same packages at the fixes the
findings name tells whether each named fix clears its finding.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vigil.advisories.namespaces import LANGUAGE_ECOSYSTEMS, PURL_TYPE_ECOSYSTEMS, os_namespace
from vigil.advisories.store import AdvisoryDB
from vigil.enums import PackageManager
from vigil.inventory.model import Inventory, OSInfo, Package, Stats, Target
from vigil.matching.match import match_inventory
from vigil.versions import InvalidVersion, compare, is_valid

_LANGUAGE_TYPES = {LANGUAGE_ECOSYSTEMS[e]: t for t, e in PURL_TYPE_ECOSYSTEMS.items()}
_OS_IDS = {"debian": "debian", "ubuntu": "ubuntu", "alpine": "alpine", "almalinux": "almalinux", "rocky": "rocky",
           "rhel": "rhel", "amzn": "amzn", "sles": "sles", "opensuse-leap": "opensuse-leap"}  # fmt: skip
_OS_TYPES = {"debian": "deb", "ubuntu": "deb", "alpine": "apk"}
_LOWEST = ("0", "0.0.0", "0.0.0-0")


@dataclass(frozen=True, slots=True)
class Installed:
    """One package of a scan: which namespace, which name, which version (as the records write it)."""

    namespace: str
    ecosystem: str
    name: str
    version: str


def installed_versions(db: AdvisoryDB) -> dict[tuple[str, str, str], set[str]]:
    """(namespace, ecosystem, package) → the versions the records name for it."""
    versions: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for advisory in db.iter_advisories():
        for entry in advisory.affected:
            named = versions[(entry.namespace, entry.ecosystem, entry.package)]
            named.update(entry.versions)
            from_zero = entry.fixed_version is not None  # a plain fix: affected from the first version
            if entry.fixed_version:
                named.add(entry.fixed_version)
            for r in entry.ranges:
                if r.type != "GIT":
                    named.update(v for kind, v in r.events if kind != "limit" and v not in _LOWEST)
                    from_zero |= any(kind == "introduced" and v in _LOWEST for kind, v in r.events)
            if from_zero:
                named.update(v for v in _LOWEST[:2] if is_valid(entry.ecosystem, v))
    return versions


def _os(namespace: str) -> OSInfo | None:
    prefix, _, release = namespace.partition(":")
    os_id = _OS_IDS.get(prefix)
    scanned_as = os_namespace(os_id, release) if os_id else None
    if scanned_as is None or scanned_as[0] != namespace:
        return None  # a release no host reports (Debian 3.0): nothing can be scanned against it
    return OSInfo(family=prefix, id=os_id, version_id=release, name=namespace)


def _package(item: Installed) -> Package:
    prefix = item.namespace.partition(":")[0]
    language = _LANGUAGE_TYPES.get(item.namespace)
    purl_type = language or _OS_TYPES.get(prefix, "rpm")
    purl = f"pkg:{purl_type}/{item.name}@{item.version}"
    if language:
        return Package(item.name, item.version, language, PackageManager.CARGO, purl, "corpus")
    if purl_type != "rpm":
        return Package(item.name, item.version, purl_type, PackageManager.OS, purl, "corpus")
    epoch, _, rest = item.version.rpartition(":")
    version, dash, release = rest.rpartition("-")
    return Package(
        item.name, version if dash else rest, "rpm", PackageManager.OS, purl, "corpus",
        epoch=int(epoch) if epoch.isdigit() else None, release=release if dash else None, arch="x86_64",
    )  # fmt: skip


def inventories(items: Iterable[Installed]) -> Iterator[tuple[Inventory, dict[str, Installed]]]:
    """One inventory per OS release (and one for language packages), with each package's purl."""
    by_os: dict[str | None, list[Installed]] = defaultdict(list)
    for item in items:
        key = None if item.namespace in _LANGUAGE_TYPES else item.namespace
        if key is None or _os(key) is not None:
            by_os[key].append(item)
    for namespace, group in by_os.items():
        packages = [_package(i) for i in group]
        os = _os(namespace) if namespace else OSInfo(family="debian", id="debian", version_id="12")
        inventory = Inventory(Target("directory", ["/corpus"]), os, None, packages, [], Stats(), "")
        yield inventory, {p.purl: i for p, i in zip(packages, group, strict=True)}


def scan(db: AdvisoryDB, items: Iterable[Installed]) -> dict[Installed, dict[str, str | None]]:
    """Each package → {vulnerability id: the fix its finding names (None: none does)}.

    The matcher's answer: findings copy it into `fixedInVersion` (tests/findings check that they do).
    """
    flagged: dict[Installed, dict[str, str | None]] = {}
    for inventory, by_purl in inventories(items):
        for match in match_inventory(inventory, db).matches:
            flagged.setdefault(by_purl[match.package.purl], {})[match.vulnerability_id] = match.fixed_in
    return flagged


def between(ecosystem: str, low: str, high: str, candidates: Iterable[str]) -> list[str]:
    """The candidates strictly between `low` and `high` in the ecosystem's order."""
    found = []
    for candidate in candidates:
        try:
            if compare(ecosystem, low, candidate) < 0 and compare(ecosystem, candidate, high) < 0:
                found.append(candidate)
        except InvalidVersion:
            continue
    return found


def _stable(version: str) -> str:
    return hashlib.sha256(version.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FixCheck:
    """What scanning every named version, then every named fix, showed."""

    flagged: int  # (package, version, vulnerability) findings with a fix named
    not_cleared: list[str]  # the named fix does not clear the finding
    not_nearest: list[str]  # a version the records name, between the installed one and the fix, clears it


def check_fixes(db: AdvisoryDB, per_package: int | None = None, one_package_in: int = 1) -> FixCheck:
    """Scan every version the records name, then every fix the findings name.

    A sample, the same at each run: at most `per_package` versions of each package, of one package in
    `one_package_in`.
    """
    named = {
        key: set(sorted(versions, key=_stable)[:per_package])
        for key, versions in installed_versions(db).items()
        if int(_stable("/".join(key)), 16) % one_package_in == 0
    }
    items = [Installed(ns, eco, name, v) for (ns, eco, name), versions in named.items() for v in versions]
    before = scan(db, items)
    with_fix = [(i, vuln_id, fix) for i, vulns in before.items() for vuln_id, fix in vulns.items() if fix]
    after = scan(db, {Installed(i.namespace, i.ecosystem, i.name, fix) for i, _, fix in with_fix})
    not_cleared, not_nearest = [], []
    for item, vuln_id, fix in with_fix:
        at_fix = Installed(item.namespace, item.ecosystem, item.name, fix)
        if vuln_id in after.get(at_fix, {}):
            not_cleared.append(f"{item}: {vuln_id} is still found at its fix {fix}")
        for lower in between(
            item.ecosystem, item.version, fix, named[(item.namespace, item.ecosystem, item.name)]
        ):
            at_lower = Installed(item.namespace, item.ecosystem, item.name, lower)
            if vuln_id not in before.get(at_lower, {}):
                not_nearest.append(f"{item}: {vuln_id} names {fix}, but {lower} clears it already")
    return FixCheck(len(with_fix), not_cleared, not_nearest)
