"""What the fleet and scanning tests share: an injected clock, small in-test fakes of the other parts'
services (accounts, findings), real Debian disk images built once per session, fleet files, and an advisory
database of real Debian records that a test can update to a new version."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tests.support import images as im

from vigil.advisories.feeds import importer_for
from vigil.advisories.store import AdvisoryDB, SourceInfo
from vigil.findings.evaluate import Evaluation
from vigil.findings.model import Finding
from vigil.fleet.model import Instance

ACCOUNT = "111122223333"
OTHER = "444455556666"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DSA_LIST = Path(__file__).parents[1] / "advisories" / "importers" / "fixtures" / "debian" / "DSA-list"
CURL_ADVISORY = "[27 Feb 2023] DSA-5365-1 curl - security update"  # fixes curl 7.74.0-1.3+deb11u7

BULLSEYE = (
    'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nNAME="Debian GNU/Linux"\nVERSION_ID="11"\nID=debian\n'
)
WEB_PACKAGES = (("curl", "7.74.0-1.3+deb11u5", None), ("libcurl4", "7.74.0-1.3+deb11u5", "curl"))
VPN_PACKAGES = (("libreswan", "4.3-1+deb11u2", None), ("base-files", "11.1+deb11u5", None))
PYTHON_PACKAGES = (("requests", "2.25.1"), ("urllib3", "1.26.5"))
UNKNOWN_OS = 'NAME="Vigil Contract"\nID=vigil-contract\nVERSION_ID="1"\n'


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class FakeAccounts:
    """`AccountsDirectory` as part A will provide it: which accounts are enabled, and their scan mode."""

    enabled: set[str] = field(default_factory=lambda: {ACCOUNT, OTHER})
    modes: dict[str, str] = field(default_factory=dict)
    deep_inspection: set[str] = field(default_factory=set)  # accounts whose deep inspection is activated

    def enabled_accounts(self) -> list[str]:
        return sorted(self.enabled)

    def scan_mode(self, account_id: str) -> str:
        return self.modes.get(account_id, "EC2_HYBRID")

    def deep_inspection_active(self, account_id: str) -> bool:
        return account_id in self.deep_inspection

    def deep_inspection_paths(self, account_id: str) -> tuple[str, ...]:
        return ()


@dataclass
class RecordingFindings:
    """`FindingsRecorder` as part C will provide it, reduced to what it was told."""

    evaluations: list[tuple[Instance, Evaluation, dt.datetime]] = field(default_factory=list)
    closed: list[tuple[str, str, str]] = field(default_factory=list)
    purged: list[dt.datetime] = field(default_factory=list)

    open: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)
    network: list[tuple[str, list[Any]]] = field(default_factory=list)
    network_closed: list[str] = field(default_factory=list)
    network_seen: list[str] = field(default_factory=list)
    reexposed: list[str] = field(default_factory=list)

    def record(self, instance: Instance, evaluation: Evaluation, now: dt.datetime) -> None:
        self.evaluations.append((instance, evaluation, now))
        self.open[(instance.account_id, instance.instance_id)] = {
            f.vulnerability_id: _package_names(f) for f in evaluation.findings
        }

    def record_many(self, evaluated: Sequence[tuple[Instance, Evaluation]], now: dt.datetime) -> None:
        for instance, evaluation in evaluated:
            self.record(instance, evaluation, now)

    def record_vulnerabilities(
        self,
        instances: Sequence[Instance],
        vulnerabilities: Collection[str],
        findings: Sequence[Finding],
        now: dt.datetime,
        *,
        region: str,
    ) -> int:
        """Each instance's evaluation is recorded as holding these findings (named for the first)."""
        for instance in instances:
            self.evaluations.append((instance, Evaluation(tuple(findings), (), 0, now), now))
            held = self.open.setdefault((instance.account_id, instance.instance_id), {})
            for vulnerability in vulnerabilities:
                held.pop(vulnerability, None)
            held.update({f.vulnerability_id: _package_names(f) for f in findings})
        return len(findings) * len(instances)

    def open_vulnerabilities(
        self, instances: Collection[Instance]
    ) -> dict[tuple[str, str], dict[str, set[str]]]:
        keys = [(i.account_id, i.instance_id) for i in instances]
        return {k: {v: set(n) for v, n in self.open[k].items()} for k in keys if k in self.open}

    def close_instance(
        self, account_id: str, instance_id: str, now: dt.datetime, *, reason: str, packages_only: bool = False
    ) -> None:
        self.closed.append((account_id, instance_id, reason))

    def record_network(self, analysed: Sequence[tuple[Instance, Sequence[Any]]], now: dt.datetime) -> None:
        self.network.extend((instance.instance_id, list(findings)) for instance, findings in analysed)

    def observe_network(self, account_id: str, instance_ids: Collection[str], now: dt.datetime) -> None:
        self.network_seen.extend(instance_ids)

    def close_network(self, account_id: str, instance_ids: Collection[str], now: dt.datetime) -> int:
        self.network_closed.extend(instance_ids)
        return len(instance_ids)

    def reexpose(self, instances: Sequence[Instance], now: dt.datetime) -> int:
        self.reexposed.extend(i.instance_id for i in instances)
        return 0

    def purge(self, now: dt.datetime) -> int:
        self.purged.append(now)
        return 0

    def vulnerabilities(self, instance_id: str) -> set[str]:
        """The vulnerability ids of the instance's latest evaluation."""
        latest = [e for i, e, _ in self.evaluations if i.instance_id == instance_id][-1]
        return {f.vulnerability_id for f in latest.findings}

    def evaluated(self) -> list[str]:
        return [instance.instance_id for instance, _, _ in self.evaluations]


def _package_names(finding: Finding) -> set[str]:
    return {p.name for p in finding.details.vulnerable_packages}


def _stanza(name: str, version: str, source: str | None) -> str:
    src = f"Source: {source}\n" if source else ""
    return f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n{src}Version: {version}\n"


def debian_tree(
    root: Path, packages: Collection[tuple[str, str, str | None]], *, os_release: str = BULLSEYE
) -> Path:
    """A Debian 11 root with these dpkg packages (name, version, source) and a Python application with two
    packages."""
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("\n".join(_stanza(*p) for p in packages))
    for name, version in PYTHON_PACKAGES:
        dist_info = root / f"srv/app/venv/lib/python3.9/site-packages/{name}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


def debian_image(
    work: Path,
    name: str,
    packages: Collection[tuple[str, str, str | None]],
    *,
    os_release: str = BULLSEYE,
    filesystem: str = "ext4",
) -> Path:
    """A qcow2 disk holding one filesystem (ext4 or btrfs) with a Debian root (a few hundred KiB on disk)."""
    tree = debian_tree(work / f"{name}-tree", packages, os_release=os_release)
    if filesystem == "btrfs":
        raw = im.make_btrfs(tree, work / f"{name}.fs")
    else:
        raw = im.make_ext(tree, work / f"{name}.fs", size=16 * im.MIB)
    qcow2 = im.convert(raw, work / f"{name}.qcow2", "qcow2")
    raw.unlink()
    shutil.rmtree(tree)
    return qcow2


def volume(file: str, volume_id: str, **options: Any) -> dict[str, Any]:
    return {"volumeId": volume_id, "device": "/dev/xvda", "file": file, "sizeGiB": 8, **options}


def instance(instance_id: str, volumes: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {"instanceId": instance_id, "state": "running", "volumes": volumes, **options}


def write_fleet(path: Path, instances: list[dict[str, Any]], kms_keys: list[dict[str, Any]] = ()) -> Path:  # type: ignore[assignment]
    path.parent.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"instances": instances}
    if kms_keys:
        document["kmsKeys"] = list(kms_keys)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def advisories_without_curl_fix(folder: Path) -> None:
    """In `folder`: the real DSA list without DSA-5365 (curl) and an advisory database of it; write the whole
    list there and import it again (`add_curl_fix`) to publish a new version touching curl."""
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / "DSA-list"
    text = DSA_LIST.read_text()
    start = text.index(CURL_ADVISORY)
    end = text.index("\n[", start) + 1
    listing.write_text(text[:start] + text[end:])
    with AdvisoryDB(folder / "advisories.db") as db:
        _import_dsa_list(db, listing)


def add_curl_fix(db: AdvisoryDB, listing: Path) -> int:
    """Publish DSA-5365 (curl): a new database version whose changed keys are curl's; returns it."""
    listing.write_text(DSA_LIST.read_text())
    return _import_dsa_list(db, listing)


def _import_dsa_list(db: AdvisoryDB, listing: Path) -> int:
    """Import the list as one source whose name does not depend on where the list is (a test's copy)."""
    importer = importer_for(listing)
    errors: list[Any] = []
    records = list(importer.read(listing, errors))  # type: ignore[union-attr]
    assert not errors
    return db.apply_source(SourceInfo("debian-dsa-list"), records, complete=True).version


def attach(world: Any, path: Path, account_id: str = ACCOUNT) -> Any:
    """Attach a fleet file to the account, as `PUT /vigil/v1/providers/local` does."""
    from vigil.scanning.operations import FleetOperations

    return FleetOperations(world.services, world.executor).attach_local(account_id, str(path))


def scan_now(world: Any, instance_id: str, account_id: str = ACCOUNT) -> Any:
    """Queue and run one agentless scan of the instance (the scheduler's task), and return its record."""
    from vigil.scanning import tasks

    queued = world.services.scans.queue(account_id, instance_id, "request", world.clock())
    tasks.scan_instance(world.services, queued.scan_id)
    return world.services.scans.get(queued.scan_id)


def coverage_of(world: Any, instance_id: str, account_id: str = ACCOUNT) -> tuple[str, str]:
    (found,) = world.services.coverage.covered([account_id], instance_ids=[instance_id])
    return found.status_code, found.reason
