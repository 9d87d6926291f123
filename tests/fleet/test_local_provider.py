"""The local fleet file: read as the issue shows it, and every problem in it reported with where it is."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from tests.scanning.fleetkit import ACCOUNT, instance, volume, write_fleet
from tests.support import images as im

from vigil.fleet.model import InstanceState, Platform
from vigil.fleet.providers import ProviderError, provider_for
from vigil.fleet.providers.local import MAX_FLEET_FILE, LocalProvider

ISSUE_EXAMPLE = """\
instances:
  - instanceId: i-0a1b2c3d4e5f60001     # unique in the account
    state: running                      # pending | running | stopped | terminated
    platform: LINUX                     # LINUX | WINDOWS | MACOS
    imageId: ami-0123456789abcdef0      # optional, like instanceType, launchedAt, keyName, vpcId, subnetId
    tags: {Name: web-01}                # InspectorEc2Exclusion (any value) excludes the instance
    volumes:                            # attachment order
      - {volumeId: vol-01, device: /dev/xvda, file: images/web.qcow2, sizeGiB: 8, encrypted: false, kmsKeyId: null}
kmsKeys:
  - {keyId: key-1, tags: {InspectorEc2Exclusion: ""}, usable: true}
"""


def _problems(path):
    with pytest.raises(ProviderError) as raised:
        LocalProvider(path).describe(ACCOUNT)
    return str(raised.value)


def test_the_issues_example_describes_one_instance_and_one_excluded_key(fleet_dir):
    path = fleet_dir / "fleet.yaml"
    path.write_text(ISSUE_EXAMPLE)
    fleet = LocalProvider(path).describe(ACCOUNT)
    (web,) = fleet.instances
    assert (web.account_id, web.instance_id, web.state, web.platform) == (
        ACCOUNT, "i-0a1b2c3d4e5f60001", InstanceState.RUNNING, Platform.LINUX,
    )  # fmt: skip
    assert web.image_id == "ami-0123456789abcdef0" and web.tags == {"Name": "web-01"} and not web.excluded
    (vol,) = web.volumes
    assert (vol.volume_id, vol.device, vol.size_gib, vol.encrypted) == ("vol-01", "/dev/xvda", 8, False)
    assert vol.source == str((fleet_dir / "images/web.qcow2").resolve())
    (key,) = fleet.kms_keys
    assert key.key_id == "key-1" and key.excluded and key.usable


def test_a_volume_without_size_takes_its_disks_virtual_size(fleet_dir):
    im.run("qemu-img", "create", "-q", "-f", "qcow2", fleet_dir / "images/big.qcow2", "20G")
    path = write_fleet(fleet_dir / "fleet.yaml", [instance("i-0a1b2c3d4e5f60001", [
        {"volumeId": "vol-01", "device": "/dev/xvda", "file": "images/big.qcow2"},
    ])])  # fmt: skip
    (web,) = LocalProvider(path).describe(ACCOUNT).instances
    assert web.volumes[0].size_gib == 20 and os.path.getsize(fleet_dir / "images/big.qcow2") < 1 << 20


def test_the_exclusion_tag_excludes_with_or_without_a_value_and_optional_details_are_read(fleet_dir):
    path = write_fleet(fleet_dir / "fleet.yaml", [
        instance("i-0a1b2c3d4e5f60001", [volume("images/web.qcow2", "vol-01")],
                 tags={"InspectorEc2Exclusion": None}, launchedAt="2026-01-05T10:00:00+01:00",
                 instanceType="t3.micro", keyName="ops", vpcId="vpc-1", subnetId="subnet-1", platform="WINDOWS"),
        instance("i-0a1b2c3d4e5f60002", [], state="terminated", tags={"InspectorEc2Exclusion": "yes"}),
    ])  # fmt: skip
    first, second = LocalProvider(path).describe(ACCOUNT).instances
    assert first.excluded and second.excluded and first.tags == {"InspectorEc2Exclusion": ""}
    assert first.launched_at == dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    assert (first.instance_type, first.key_name, first.vpc_id, first.subnet_id, first.platform) == (
        "t3.micro", "ops", "vpc-1", "subnet-1", Platform.WINDOWS,
    )  # fmt: skip


def test_a_terminated_instances_disks_may_be_gone(fleet_dir):
    path = write_fleet(fleet_dir / "fleet.yaml", [
        instance("i-0a1b2c3d4e5f60001", [volume("images/deleted.qcow2", "vol-01")], state="terminated"),
    ])  # fmt: skip
    (gone,) = LocalProvider(path).describe(ACCOUNT).instances
    assert gone.state is InstanceState.TERMINATED


def test_what_the_schema_refuses_is_named_with_its_place_in_the_file(fleet_dir):
    path = write_fleet(fleet_dir / "fleet.yaml", [
        instance("i-0a1b2c3d4e5f60001", [volume("images/web.qcow2", "vol-01")]),
        instance("i-XYZ", [volume("images/web.qcow2", "vol-03")], state="rebooting", colour="blue"),
    ])  # fmt: skip
    problems = _problems(path)
    for expected in (
        "instances[1].instanceId: String should match pattern",
        "instances[1].state: Input should be 'pending', 'running', 'stopped' or 'terminated'",
        "instances[1].colour: Extra inputs are not permitted",
    ):
        assert expected in problems, problems


def test_every_problem_of_ids_keys_and_files_is_named_with_its_place_in_the_file(fleet_dir):
    (fleet_dir / "images/folder.qcow2").mkdir()
    path = write_fleet(fleet_dir / "fleet.yaml", [
        instance("i-0a1b2c3d4e5f60001", [volume("images/web.qcow2", "vol-01", kmsKeyId="key-9", encrypted=True)]),
        instance("i-0a1b2c3d4e5f60001", [volume("images/missing.qcow2", "vol-01")]),
        instance("i-0a1b2c3d4e5f60003", [volume("../outside.qcow2", "vol-03")]),
        instance("i-0a1b2c3d4e5f60004", [volume("images/folder.qcow2", "vol-04"),
                                         volume("images/vpn.qcow2", "vol-05", kmsKeyId="key-1")]),
    ], kms_keys=[{"keyId": "key-1"}])  # fmt: skip
    problems = _problems(path)
    for expected in (
        "instanceId i-0a1b2c3d4e5f60001 appears more than once",
        "volumeId vol-01 appears more than once",
        "instances[0].volumes[0] (vol-01): kmsKeyId key-9 is not one of kmsKeys",
        "instances[1].volumes[0] (vol-01): file images/missing.qcow2: No such file or directory",
        "instances[2].volumes[0] (vol-03): file ../outside.qcow2 is outside the fleet file's folder",
        "instances[3].volumes[0] (vol-04): file images/folder.qcow2 is not a regular file",
        "instances[3].volumes[1] (vol-05): kmsKeyId is set but the volume is not encrypted",
    ):
        assert expected in problems, problems


def test_an_image_reached_through_a_symbolic_link_out_of_the_folder_is_refused(fleet_dir, tmp_path):
    (tmp_path / "elsewhere.qcow2").write_bytes(b"x")
    (fleet_dir / "images/link.qcow2").symlink_to(tmp_path / "elsewhere.qcow2")
    path = write_fleet(
        fleet_dir / "fleet.yaml", [instance("i-0a1b2c3d4e5f60001", [volume("images/link.qcow2", "v")])]
    )
    assert "is outside the fleet file's folder" in _problems(path)


def test_yaml_errors_say_where_without_quoting_the_file(fleet_dir):
    path = fleet_dir / "fleet.yaml"
    path.write_text(
        "instances:\n  - instanceId: i-0a1b2c3d4e5f60001\n    state: [running\nsecret-token-1234\n"
    )
    problems = _problems(path)
    assert "not valid YAML: line" in problems and "secret-token-1234" not in problems
    path.write_text("instances: secret-token-1234\n")
    problems = _problems(path)
    assert "instances: Input should be a valid list" in problems and "secret-token-1234" not in problems


def test_yaml_aliases_are_refused_before_they_can_expand(fleet_dir):
    path = fleet_dir / "fleet.yaml"
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(20)
    ]
    path.write_text("\n".join(bomb) + "\n")
    assert "aliases (*name) are not allowed" in _problems(path)


def test_a_fleet_file_that_is_too_large_or_not_a_file_is_refused(fleet_dir):
    path = fleet_dir / "fleet.yaml"
    with open(path, "wb") as f:
        f.truncate(MAX_FLEET_FILE + 1)
    assert "larger than 16 MiB" in _problems(path)
    assert "cannot read the fleet file: a directory, not a regular file" in _problems(fleet_dir / "images")
    with pytest.raises(ProviderError, match="absolute path"):
        LocalProvider("fleet.yaml")
    with pytest.raises(ProviderError, match="unknown provider 'libvirt'"):
        provider_for("libvirt", {})


def test_an_empty_fleet_file_is_an_empty_fleet(fleet_dir):
    path = fleet_dir / "fleet.yaml"
    path.write_text("")
    assert LocalProvider(path).describe(ACCOUNT).instances == ()
