"""Agent-based scanning on the server, in process with an injected clock, on SQLite and PostgreSQL:
activations, registration and binding, signed requests (skew, replay, forgery, rotation), inventories taken
in whole, as diffs and unchanged, coverage in both scan modes, and the hybrid fallback to agentless scans
when an agent goes silent for 7 days."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from tests.scanning.fleetkit import (
    ACCOUNT,
    OTHER,
    VPN_PACKAGES,
    WEB_PACKAGES,
    add_curl_fix,
    attach,
    coverage_of,
    debian_tree,
    instance,
    volume,
    write_fleet,
)

from vigil.agent import protocol
from vigil.fleet.activations import ActivationError, ActivationsService
from vigil.fleet.agents import AgentIdentity, AgentRefused, AgentRegistry
from vigil.inventory.collect import Limits
from vigil.inventory.targets import take_inventory
from vigil.scanning import tasks
from vigil.scanning.agent_intake import InventoryIntake
from vigil.server.keyfile import KeyFile
from vigil.store.agents import AgentRow
from vigil.store.fleet import UsagePeriodRow

WEB = "i-0a1b2c3d4e5f60001"
MACHINE = "0f3b5c0e2a6d4e8f9a1b2c3d4e5f6a7b"


@dataclasses.dataclass
class Agents:
    activations: ActivationsService
    registry: AgentRegistry
    intake: InventoryIntake


@pytest.fixture
def agents(world, tmp_path) -> Agents:
    sealer = KeyFile.create(tmp_path / "secrets.key")
    services = world.services
    return Agents(
        ActivationsService(services.sessions, world.clock),
        AgentRegistry(services.sessions, sealer, world.clock),
        InventoryIntake(services),
    )


@pytest.fixture
def fleet(world, fleet_dir) -> Path:
    """The account's fleet: WEB (Debian 11, behind on curl), known to its provider by its machine id."""
    path = write_fleet(
        fleet_dir / "fleet.yaml",
        [instance(WEB, [volume("images/web.qcow2", "vol-01")], machineId=MACHINE)],
    )
    attach(world, path)
    return path


def _register(agents: Agents, hints: dict | None = None, **options) -> tuple[str, AgentIdentity, str]:
    activation = agents.activations.create(ACCOUNT, **options)
    registration = agents.registry.register(
        activation.activation_id, activation.activation_code, hints=hints or {}
    )
    identity = AgentIdentity(registration.agent_id, registration.account_id, registration.instance_id)
    return registration.instance_id, identity, registration.secret


def _signed(
    agents: Agents, world, identity: AgentIdentity, secret: str, body: bytes, path: str = protocol.INVENTORY
):
    headers = protocol.signed_headers(secret, identity.agent_id, "POST", path, body, world.clock())
    return agents.registry.authenticate("POST", path, headers, body), headers


def _os_inventory(root: Path):
    return take_inventory([str(root)], os_only=True)


def _message(inventory, kind: str = protocol.OS_KIND) -> dict:
    return {"kind": kind, "contentHash": inventory.content_hash, "document": inventory.to_json()}


# activations and registration


def test_an_activation_allows_its_registrations_until_it_expires_or_is_deleted(world, agents):
    activation = agents.activations.create(ACCOUNT, registration_limit=2)
    for _ in range(2):
        agents.registry.register(activation.activation_id, activation.activation_code, hints={})
    with pytest.raises(AgentRefused) as refused:
        agents.registry.register(activation.activation_id, activation.activation_code, hints={})
    assert refused.value.code == "ActivationLimitExceeded"

    later = agents.activations.create(ACCOUNT, registration_limit=5)
    with pytest.raises(AgentRefused) as wrong:
        agents.registry.register(later.activation_id, "not-the-code", hints={})
    assert wrong.value.code == "InvalidActivation"
    world.clock.advance(hours=24)
    with pytest.raises(AgentRefused) as expired:
        agents.registry.register(later.activation_id, later.activation_code, hints={})
    assert expired.value.code == "ActivationExpired"

    deleted = agents.activations.create(ACCOUNT, registration_limit=5)
    agents.activations.delete({ACCOUNT}, deleted.activation_id)
    with pytest.raises(AgentRefused, match="deleted"):
        agents.registry.register(deleted.activation_id, deleted.activation_code, hints={})
    with pytest.raises(LookupError):
        agents.activations.delete({OTHER}, later.activation_id)  # another account's


@pytest.mark.parametrize("field, value", [("registration_limit", 0), ("registration_limit", 1001)])
def test_an_activation_refuses_values_ssm_refuses(agents, field, value):
    with pytest.raises(ActivationError):
        agents.activations.create(ACCOUNT, **{field: value})


def test_an_agent_is_bound_to_the_instance_its_machine_is_else_it_is_a_managed_instance(world, agents, fleet):
    bound, _, _ = _register(agents, {"machineId": MACHINE.upper()})
    assert bound == WEB
    by_id, _, _ = _register(agents, {"instanceId": WEB})
    assert by_id == WEB  # the same instance again: the earlier agent is replaced
    with world.services.sessions() as session:
        assert [row.instance_id for row in session.query(AgentRow)] == [WEB]

    managed, _, _ = _register(
        agents, {"machineId": "ab" * 16}, tags={"Team": "db"}, default_instance_name="db-01"
    )
    assert managed.startswith("mi-") and len(managed) == 20 and int(managed[3:], 16) >= 0
    (record,) = world.services.coverage.covered([ACCOUNT], instance_ids=[managed])
    assert record.instance.tags == {"Team": "db", "Name": "db-01"}
    assert (record.status_code, record.reason, record.scan_mode) == (
        "INACTIVE",
        "NO_INVENTORY",
        "EC2_SSM_AGENT_BASED",
    )
    again, _, _ = _register(agents, {"machineId": "ab" * 16})
    assert again == managed  # the same machine registering again keeps its managed instance


# signed requests


def test_a_signed_request_is_refused_when_skewed_replayed_forged_or_of_an_unknown_agent(world, agents):
    _, identity, secret = _register(agents)
    body = b'{"kind": "os"}'
    accepted, headers = _signed(agents, world, identity, secret, body)
    assert accepted == identity

    def refused(headers, body=body) -> str:
        with pytest.raises(AgentRefused) as error:
            agents.registry.authenticate("POST", protocol.INVENTORY, headers, body)
        return error.value.code

    assert refused(headers) == "ReplayedRequest"
    assert refused(headers, b'{"kind": "full"}') == "InvalidSignature"  # the body changed
    forged = protocol.signed_headers(
        "guessed", identity.agent_id, "POST", protocol.INVENTORY, body, world.clock()
    )
    assert refused(forged) == "InvalidSignature"
    stranger = protocol.signed_headers(
        secret, "agent-" + "0" * 32, "POST", protocol.INVENTORY, body, world.clock()
    )
    assert refused(stranger) == "UnknownAgent"
    early = protocol.signed_headers(
        secret, identity.agent_id, "POST", protocol.INVENTORY, body, world.clock() - protocol.MAX_SKEW * 1.2
    )
    assert refused(early) == "RequestTimeTooSkewed"
    assert refused({}) == "MissingSignature"
    assert agents.registry.refusals["ReplayedRequest"] == 1 and sum(agents.registry.refusals.values()) == 6


def test_a_rotated_secret_replaces_the_old_one_once_used(world, agents):
    instance_id, identity, old = _register(agents)
    agents.registry.request_rotation({ACCOUNT}, instance_id)
    assert agents.registry.heartbeat(identity, "1") is True
    new = agents.registry.rotate(identity)
    assert agents.registry.heartbeat(identity, "1") is False
    _signed(agents, world, identity, old, b"{}")  # the answer may have been lost: the old one still works
    _signed(agents, world, identity, new, b"{}")
    with pytest.raises(AgentRefused, match="does not verify"):
        _signed(agents, world, identity, old, b"{}")  # the new one was used: the old one retired


# inventories


def test_an_os_inventory_makes_the_instances_findings_and_coverage_agent_based(
    world, agents, fleet, tmp_path
):
    _, identity, _ = _register(agents, {"instanceId": WEB})
    assert coverage_of(world, WEB) == (
        "ACTIVE",
        "PENDING_INITIAL_SCAN",
    )  # hybrid: agentless until it delivers
    inventory = _os_inventory(debian_tree(tmp_path / "root", VPN_PACKAGES))
    answer = agents.intake.accept(identity, _message(inventory))
    assert answer["accepted"] == inventory.content_hash and answer["findings"] > 0
    assert world.findings.vulnerabilities(WEB) == {"CVE-2023-23009"}  # libreswan 4.3-1+deb11u2
    (covered,) = world.services.coverage.covered([ACCOUNT], instance_ids=[WEB])
    assert (covered.status_code, covered.reason, covered.scan_mode) == (
        "ACTIVE",
        "SUCCESSFUL",
        "EC2_SSM_AGENT_BASED",
    )
    assert covered.last_scanned_at == world.clock()
    assert not [
        t for t in world.scheduler.tick() if t.startswith("scan_instance")
    ]  # agent-based: no agentless


def test_a_diff_against_the_last_accepted_inventory_gives_the_same_inventory(world, agents, fleet, tmp_path):
    _, identity, _ = _register(agents, {"instanceId": WEB})
    root = debian_tree(tmp_path / "root", VPN_PACKAGES)
    first = _os_inventory(root)
    agents.intake.accept(identity, _message(first))
    status = root / "var/lib/dpkg/status"
    status.write_text(status.read_text().replace("4.3-1+deb11u2", "4.3-1+deb11u3"))  # libreswan fixed
    second = _os_inventory(root)
    document = second.to_json()
    edits = protocol.package_edits(first.to_json()["packages"], document.pop("packages"))
    assert protocol.diff_size(edits) == 1  # libreswan carried whole, nothing else
    diff = {"kind": "os", "contentHash": second.content_hash, "base": first.content_hash,
            "document": document, "packageEdits": edits}  # fmt: skip
    world.clock.advance(minutes=30)
    answer = agents.intake.accept(identity, diff)
    assert answer["accepted"] == second.content_hash
    assert world.findings.vulnerabilities(WEB) == set()

    stale_base = dict(diff, base=first.content_hash, contentHash="0" * 64)
    with pytest.raises(AgentRefused) as refused:
        agents.intake.accept(identity, stale_base)
    assert refused.value.code == "BaseMismatch"  # the server's base is `second` now: send it whole
    with pytest.raises(AgentRefused) as lying:
        agents.intake.accept(identity, {**_message(first), "contentHash": "1" * 64})
    assert lying.value.code == "HashMismatch"
    with pytest.raises(AgentRefused) as other:
        agents.intake.accept(identity, {**_message(first), "instanceId": "i-0ffffffffffffffff"})
    assert other.value.code == "CrossInstanceWrite"


def test_an_unchanged_inventory_is_a_delivery_that_keeps_the_instance_fresh(world, agents, fleet, tmp_path):
    _, identity, _ = _register(agents, {"instanceId": WEB})
    inventory = _os_inventory(debian_tree(tmp_path / "root", VPN_PACKAGES))
    agents.intake.accept(identity, _message(inventory))
    evaluations = len(world.findings.evaluations)
    for _ in range(3):
        world.clock.advance(days=3)
        answer = agents.intake.accept(
            identity, {"kind": "os", "contentHash": inventory.content_hash, "unchanged": True}
        )
        assert answer == {"accepted": inventory.content_hash, "unchanged": True}
    assert len(world.findings.evaluations) == evaluations  # nothing to match again
    (covered,) = world.services.coverage.covered([ACCOUNT], instance_ids=[WEB])
    assert (covered.reason, covered.last_scanned_at) == ("SUCCESSFUL", world.clock())
    with pytest.raises(AgentRefused) as unknown:
        agents.intake.accept(identity, {"kind": "full", "contentHash": "2" * 64, "unchanged": True})
    assert unknown.value.code == "UnknownContent"


def test_deep_inspection_adds_language_packages_and_its_reasons(world, agents, fleet, tmp_path):
    world.accounts.deep_inspection.add(ACCOUNT)
    _, identity, _ = _register(agents, {"instanceId": WEB})
    root = debian_tree(tmp_path / "root", VPN_PACKAGES)
    agents.intake.accept(identity, _message(_os_inventory(root)))
    assert coverage_of(world, WEB) == ("ACTIVE", "DEEP_INSPECTION_NO_INVENTORY")
    full = take_inventory([str(root)], scope="default", custom_paths=["/srv/app"])
    assert {p.name for p in full.packages} >= {"requests", "urllib3", "libreswan"}
    agents.intake.accept(identity, _message(full, protocol.FULL_KIND))
    assert coverage_of(world, WEB) == ("ACTIVE", "SUCCESSFUL")
    world.clock.advance(minutes=30)  # the next OS inventory keeps the language packages
    status = root / "var/lib/dpkg/status"
    status.write_text(
        status.read_text() + "\nPackage: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.11\n"
    )
    answer = agents.intake.accept(identity, _message(_os_inventory(root)))
    stored = world.services.inventories.get(answer["inventoryHash"])
    assert {"requests", "urllib3", "zlib1g", "libreswan"} <= {p.name for p in stored.packages}

    limited = take_inventory([str(root)], scope="default", custom_paths=["/srv/app"], limits=Limits(1))
    assert [hit.limit for hit in limited.limits_hit] == ["package_count"]
    agents.intake.accept(identity, _message(limited, protocol.FULL_KIND))
    assert coverage_of(world, WEB) == ("ACTIVE", "DEEP_INSPECTION_PACKAGE_COLLECTION_LIMIT_EXCEEDED")


def test_an_excluded_instances_inventories_are_accepted_and_make_no_findings(
    world, agents, fleet_dir, tmp_path
):
    path = write_fleet(
        fleet_dir / "fleet.yaml",
        [instance(WEB, [volume("images/web.qcow2", "vol-01")], tags={"InspectorEc2Exclusion": ""})],
    )
    attach(world, path)
    _, identity, _ = _register(agents, {"instanceId": WEB})
    inventory = _os_inventory(debian_tree(tmp_path / "root", VPN_PACKAGES))
    assert agents.intake.accept(identity, _message(inventory)) == {
        "accepted": inventory.content_hash,
        "excluded": True,
    }
    assert WEB not in world.findings.evaluated()
    assert coverage_of(world, WEB) == ("INACTIVE", "EXCLUDED_BY_TAG")


# scan modes


def test_agent_based_mode_names_what_is_missing(world, agents, fleet, tmp_path):
    world.accounts.modes[ACCOUNT] = "EC2_SSM_AGENT_BASED"
    assert coverage_of(world, WEB) == ("INACTIVE", "UNMANAGED_EC2_INSTANCE")
    _, identity, _ = _register(agents, {"instanceId": WEB})
    assert coverage_of(world, WEB) == ("INACTIVE", "NO_INVENTORY")
    agents.intake.accept(identity, _message(_os_inventory(debian_tree(tmp_path / "root", VPN_PACKAGES))))
    assert coverage_of(world, WEB) == ("ACTIVE", "SUCCESSFUL")
    assert _metered(world)[-1] == ("EC2_INSTANCE_HOURS", False)  # agent-based hours, running
    world.clock.advance(days=7)
    assert coverage_of(world, WEB) == ("INACTIVE", "STALE_INVENTORY")
    assert not [t for t in world.scheduler.tick() if t.startswith("scan_instance")]  # never agentless
    tasks.reconcile_associations(world.services)  # the periodic reconcile: time alone made it stale
    assert _metered(world)[-1] == ("EC2_INSTANCE_HOURS", True)  # no longer metered


def _metered(world) -> list[tuple[str, bool]]:
    with world.services.sessions() as session:
        rows = session.query(UsagePeriodRow).filter_by(instance_id=WEB).order_by(UsagePeriodRow.id)
        return [(row.usage_type, row.ended_at is not None) for row in rows]


def test_hybrid_mode_falls_back_to_agentless_scans_when_the_agent_goes_silent(world, agents, fleet, tmp_path):
    world.scheduler.tick()  # discovery, and the first agentless scan of WEB (no agent yet)
    assert coverage_of(world, WEB) == ("ACTIVE", "SUCCESSFUL")
    _, identity, _ = _register(agents, {"instanceId": WEB})
    world.clock.advance(hours=1)
    agents.intake.accept(identity, _message(_os_inventory(debian_tree(tmp_path / "root", VPN_PACKAGES))))
    (covered,) = world.services.coverage.covered([ACCOUNT], instance_ids=[WEB])
    assert covered.scan_mode == "EC2_SSM_AGENT_BASED"
    for _ in range(6):  # six days of daily rounds: the agent's inventory is fresh, no agentless scan
        world.clock.advance(days=1)
        assert not [t for t in world.scheduler.tick() if t.startswith("scan_instance")]
    world.clock.advance(days=1, minutes=1)  # 7 days without an inventory: stale
    assert [t for t in world.scheduler.tick() if t.startswith("scan_instance")] == [f"scan_instance:{WEB}"]
    (covered,) = world.services.coverage.covered([ACCOUNT], instance_ids=[WEB])
    assert (covered.status_code, covered.reason, covered.scan_mode) == (
        "ACTIVE",
        "SUCCESSFUL",
        "EC2_AGENTLESS",
    )
    assert covered.last_scanned_at == world.clock()
    world.clock.advance(hours=1)
    assert not [t for t in world.scheduler.tick() if t.startswith("scan_instance")]  # scanned: due in 24 h


def test_json_round_trip_of_a_registration(agents):
    activation = agents.activations.create(ACCOUNT)
    registration = agents.registry.register(activation.activation_id, activation.activation_code, hints={})
    assert set(json.loads(json.dumps(registration.to_json()))) == {
        "agentId",
        "accountId",
        "instanceId",
        "secret",
    }


def test_a_new_advisory_reevaluates_an_agents_inventory_and_moves_its_last_scan(
    world, agents, fleet, tmp_path
):
    world.accounts.modes[ACCOUNT] = "EC2_SSM_AGENT_BASED"  # no agentless scan of WEB's disk meanwhile
    world.scheduler.tick()  # notes the advisory database's version
    _, identity, _ = _register(agents, {"instanceId": WEB})
    agents.intake.accept(identity, _message(_os_inventory(debian_tree(tmp_path / "root", WEB_PACKAGES))))
    assert "CVE-2023-23916" not in world.findings.vulnerabilities(WEB)
    world.clock.advance(minutes=5)
    add_curl_fix(world.advisories, world.listing)  # DSA-5365: curl 7.74.0-1.3+deb11u5 is affected
    assert "reevaluate" in world.scheduler.tick()
    assert "CVE-2023-23916" in world.findings.vulnerabilities(WEB)
    (covered,) = world.services.coverage.covered([ACCOUNT], instance_ids=[WEB])
    assert (covered.reason, covered.scan_mode, covered.last_scanned_at) == (
        "SUCCESSFUL",
        "EC2_SSM_AGENT_BASED",
        world.clock(),
    )
