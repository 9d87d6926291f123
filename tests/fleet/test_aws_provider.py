"""The `aws` provider against moto's server on loopback: EC2 instances and volumes in several regions, KMS
keys and their tags, discovered into the fleet store (SQLite and PostgreSQL) with the coverage every provider
gets; the CLI and `PUT /vigil/v1/providers/aws`; and moto's EBS direct API serving a disk image's blocks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from moto.ec2.models import ec2_backends
from sqlalchemy import select
from tests.scanning.fleetkit import ACCOUNT, OTHER, coverage_of
from tests.support.cli import vigil
from tests.support.moto import (
    BLOCK_SIZE,
    REGION,
    aws_client,
    link_snapshot_blocks,
    moto,
    moto_server,
    snapshot_images,
)
from tests.support.server import init_server

from vigil.api.context import CALLER, Caller
from vigil.api.errors import InspectorError
from vigil.api.vigil_routes.providers import providers_router
from vigil.fleet import discovery
from vigil.fleet.model import EXCLUSION_TAG, InstanceState, Platform
from vigil.fleet.providers import ProviderError, provider_for
from vigil.fleet.providers.aws.access import AwsAccess, problem
from vigil.fleet.providers.aws.provider import AwsProvider, _key, instance_from_ec2
from vigil.scanning.operations import FleetOperations
from vigil.store.engine import transaction
from vigil.store.fleet import KmsKeyRow, ProviderRow

__all__ = ["moto", "moto_server", "snapshot_images"]  # fixtures

LINUX_AMI = "ami-760aaa0f"  # moto's Amazon Linux image, root /dev/xvda
WINDOWS_AMI = "ami-03cf127a"  # moto's Windows Server 2016 image
EU = "eu-west-1"
MOTO_ACCOUNT = "123456789012"


def _run(ec2: Any, name: str, *, ami: str = LINUX_AMI, root_gib: int = 8, **tags: str) -> str:
    root = "/dev/sda1" if ami == WINDOWS_AMI else "/dev/xvda"
    made = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        KeyName="ops",
        BlockDeviceMappings=[{"DeviceName": root, "Ebs": {"VolumeSize": root_gib}}],
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()],
            }
        ],
    )
    return str(made["Instances"][0]["InstanceId"])


def _attach_volume(ec2: Any, instance_id: str, device: str, size: int = 1, kms_key: str | None = None) -> str:
    zone = ec2.meta.region_name + "a"
    options: dict[str, Any] = {"Encrypted": True, "KmsKeyId": kms_key} if kms_key else {}
    volume_id = str(ec2.create_volume(Size=size, AvailabilityZone=zone, **options)["VolumeId"])
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
    return volume_id


def _key_arn(kms: Any, **tags: str) -> str:
    arn = str(kms.create_key(Description="ebs")["KeyMetadata"]["Arn"])
    if tags:
        kms.tag_resource(KeyId=arn, Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])
    return arn


def _build_fleet(moto: str) -> dict[str, Any]:
    """Instances of every kind coverage tells apart, in us-east-1 and one more in eu-west-1."""
    ec2, kms = aws_client("ec2", moto), aws_client("kms", moto)
    fleet: dict[str, Any] = {
        "web": _run(ec2, "web"),
        "excluded": _run(ec2, "excluded", **{EXCLUSION_TAG: ""}),
        "eight": _run(ec2, "eight"),
        "big": _run(ec2, "big", root_gib=1300),
        "stopped": _run(ec2, "stopped"),
        "terminated": _run(ec2, "terminated"),
        "store": _run(ec2, "store"),
        "windows": _run(ec2, "windows", ami=WINDOWS_AMI),
        "eu": _run(aws_client("ec2", moto, EU), "eu"),
    }
    for letter in "fghijkl":  # root + 7 = 8 volumes
        _attach_volume(ec2, fleet["eight"], f"/dev/sd{letter}")
    fleet["excluded_key"] = _key_arn(kms, **{EXCLUSION_TAG: "", "team": "db"})
    fleet["plain_key"] = _key_arn(kms)
    fleet["secret_volume"] = _attach_volume(ec2, fleet["web"], "/dev/sdf", 20, fleet["excluded_key"])
    fleet["data_volume"] = _attach_volume(ec2, fleet["web"], "/dev/sdg", 5, fleet["plain_key"])
    ec2.stop_instances(InstanceIds=[fleet["stopped"]])
    ec2.terminate_instances(InstanceIds=[fleet["terminated"]])
    # moto launches every instance from EBS; this one's root device is an instance store, as EC2 says of
    # instances launched from instance-store AMIs (moto runs in this process)
    ec2_backends[MOTO_ACCOUNT][REGION].get_instance(fleet["store"]).root_device_type = "instance-store"
    return fleet


def _attach(world: Any, moto: str, regions: tuple[str, ...] = (REGION, EU)) -> discovery.DiscoveryReport:
    return FleetOperations(world.services, world.executor).attach_aws(ACCOUNT, regions, endpoint_url=moto)


def test_discovery_gives_each_instance_the_coverage_every_provider_gets(world, moto):
    fleet = _build_fleet(moto)
    report = _attach(world, moto)
    names = ("web", "excluded", "eight", "big", "stopped", "terminated", "store", "windows", "eu")
    assert sorted(report.new) == sorted(fleet[n] for n in names)
    assert {name: coverage_of(world, fleet[name]) for name in names} == {
        "web": ("ACTIVE", "PENDING_INITIAL_SCAN"),
        "eu": ("ACTIVE", "PENDING_INITIAL_SCAN"),
        "excluded": ("INACTIVE", "EXCLUDED_BY_TAG"),
        "eight": ("INACTIVE", "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED"),
        "big": ("INACTIVE", "AGENTLESS_INSTANCE_STORAGE_LIMIT_EXCEEDED"),
        "stopped": ("INACTIVE", "EC2_INSTANCE_STOPPED"),
        "terminated": ("INACTIVE", "RESOURCE_TERMINATED"),
        "store": ("INACTIVE", "UNSUPPORTED_OS"),
        "windows": ("INACTIVE", "UNSUPPORTED_OS"),
    }


def test_an_instance_is_described_with_its_volumes_root_first_and_its_network(world, moto):
    fleet = _build_fleet(moto)
    _attach(world, moto)
    (web,) = world.services.coverage.covered([ACCOUNT], instance_ids=[fleet["web"]])
    instance = web.instance
    assert (instance.account_id, instance.provider, instance.region) == (ACCOUNT, "aws", REGION)
    assert (instance.state, instance.platform, instance.image_id) == (
        InstanceState.RUNNING,
        Platform.LINUX,
        LINUX_AMI,
    )
    assert (instance.instance_type, instance.key_name, instance.tags) == ("t3.micro", "ops", {"Name": "web"})
    assert instance.vpc_id and instance.subnet_id and instance.launched_at.tzinfo == dt.UTC
    assert len(instance.ip_v4_addresses) == 2  # private, then public
    assert [(v.device, v.size_gib, v.encrypted, v.kms_key_id) for v in instance.volumes] == [
        ("/dev/xvda", 8, False, None),
        ("/dev/sdf", 20, True, fleet["excluded_key"]),
        ("/dev/sdg", 5, True, fleet["plain_key"]),
    ]
    assert [v.source for v in instance.volumes] == [v.volume_id for v in instance.volumes]
    (windows,) = world.services.coverage.covered([ACCOUNT], instance_ids=[fleet["windows"]])
    assert windows.instance.platform is Platform.WINDOWS and windows.instance.volumes[0].device == "/dev/sda1"


def test_the_kms_keys_of_encrypted_volumes_are_stored_with_their_tags(world, moto):
    fleet = _build_fleet(moto)
    _attach(world, moto)
    with world.services.sessions() as session:
        keys = {k.key_id: (k.provider, k.tags, k.usable) for k in session.scalars(select(KmsKeyRow))}
    assert keys == {
        fleet["excluded_key"]: ("aws", {EXCLUSION_TAG: "", "team": "db"}, True),
        fleet["plain_key"]: ("aws", {}, True),
    }


def test_instances_that_vanish_or_end_are_terminated(world, moto):
    fleet = _build_fleet(moto)
    _attach(world, moto)
    aws_client("ec2", moto).terminate_instances(InstanceIds=[fleet["web"]])
    world.clock.advance(hours=1)
    report = discovery.discover(world.services.sessions, ACCOUNT, "aws", world.clock())
    assert (report.error, report.terminated) == (None, (fleet["web"],))
    report = _attach(world, moto, regions=(REGION,))  # eu-west-1 is no longer discovered
    assert report.vanished == (fleet["eu"],)
    assert coverage_of(world, fleet["eu"]) == ("INACTIVE", "RESOURCE_TERMINATED")
    assert coverage_of(world, fleet["web"]) == ("INACTIVE", "RESOURCE_TERMINATED")


def test_a_discovery_that_cannot_reach_aws_changes_nothing(world, moto):
    fleet = _build_fleet(moto)
    _attach(world, moto)
    with transaction(world.services.sessions) as session:
        row = session.get(ProviderRow, (ACCOUNT, "aws"))
        row.config = dict(row.config, endpointUrl="http://127.0.0.1:9")  # nothing listens on discard
    report = discovery.discover(world.services.sessions, ACCOUNT, "aws", world.clock())
    assert report.error.startswith("ec2:DescribeInstances in us-east-1: cannot reach http://127.0.0.1:9")
    assert coverage_of(world, fleet["web"]) == ("ACTIVE", "PENDING_INITIAL_SCAN")
    (provider,) = FleetOperations(world.services, world.executor).providers([ACCOUNT])
    assert provider.error == report.error


def test_a_provider_that_cannot_describe_its_fleet_is_refused_at_attachment(world, moto):
    with pytest.raises(ProviderError, match=r"cannot reach http://127\.0\.0\.1:9"):
        FleetOperations(world.services, world.executor).attach_aws(
            ACCOUNT, [REGION], endpoint_url="http://127.0.0.1:9"
        )
    assert FleetOperations(world.services, world.executor).providers([ACCOUNT]) == []


def test_describing_pages_through_instances_and_volumes(moto):
    ec2 = aws_client("ec2", moto)
    made = {_run(ec2, f"n{i}") for i in range(12)}
    provider = AwsProvider(AwsAccess([REGION], endpoint_url=moto), page_size=5)
    described = provider.describe(ACCOUNT).instances
    assert {i.instance_id for i in described} == made and all(len(i.volumes) == 1 for i in described)


def test_a_role_is_assumed_for_its_account_and_kept_until_near_expiry(moto):
    _run(aws_client("ec2", moto), "web")  # in moto's default account
    own = AwsProvider(AwsAccess([REGION], f"arn:aws:iam::{MOTO_ACCOUNT}:role/vigil", moto))
    other = AwsProvider(AwsAccess([REGION], "arn:aws:iam::210987654321:role/vigil", moto))
    assert len(own.describe(ACCOUNT).instances) == 1
    assert other.describe(ACCOUNT).instances == ()  # moto answers for the role's account
    now = [dt.datetime.now(dt.UTC)]
    access = AwsAccess([REGION], f"arn:aws:iam::{MOTO_ACCOUNT}:role/vigil", moto, now=lambda: now[0])
    first = access.client("ec2", REGION)
    now[0] += dt.timedelta(minutes=50)
    assert access.client("ec2", REGION) is first
    now[0] += dt.timedelta(minutes=6)  # within 5 minutes of the hour's expiry: assumed again
    assert access.client("ec2", REGION) is not first


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (([],), "name at least one region"),
        ((["us-east-1", "Mars"],), "'Mars' is not a region name"),
        (([REGION], "vigil-role"), "is not an IAM role ARN"),
        (([REGION], None, "file:///etc/passwd"), "is not an endpoint URL"),
        (([REGION], None, "http://user:pw@127.0.0.1"), "is not an endpoint URL"),
    ],
)
def test_access_refuses_what_it_cannot_use(arguments, message):
    with pytest.raises(ProviderError, match=message):
        AwsAccess(*arguments)


def test_the_stored_config_makes_the_same_provider_again():
    access = AwsAccess(
        [REGION, EU], "arn:aws:iam::210987654321:role/vigil", "https://ec2.example", external_id=ACCOUNT
    )
    config = AwsProvider(access).config()
    assert config == {
        "regions": [REGION, EU],
        "roleArn": "arn:aws:iam::210987654321:role/vigil",
        "endpointUrl": "https://ec2.example",
        "externalId": ACCOUNT,
    }
    assert provider_for("aws", config).config() == config
    assert AwsProvider(AwsAccess([REGION])).config() == {"regions": [REGION]}


def _error(code: str, operation: str = "DescribeInstances") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, operation)


def test_aws_errors_are_lines_the_user_can_act_on():
    denied = problem(
        _error("UnauthorizedOperation"), "ec2:DescribeInstances in us-east-1", "ec2:DescribeInstances"
    )
    assert str(denied) == (
        "ec2:DescribeInstances in us-east-1: access denied (UnauthorizedOperation): "
        "allow ec2:DescribeInstances to the credentials Vigil uses"
    )
    assert "credentials were refused (AuthFailure)" in str(problem(_error("AuthFailure"), "x", "y"))
    assert "region is not enabled" in str(problem(_error("OptInRequired"), "x", "y"))


class _DeniedKms:
    def describe_key(self, KeyId: str) -> Any:  # noqa: N803 (boto3's name)
        raise _error("AccessDeniedException", "DescribeKey")


def test_a_key_the_credentials_may_not_describe_is_unusable():
    key = _key(_DeniedKms(), "arn:aws:kms:us-east-1:210987654321:key/k", REGION)
    assert (key.tags, key.usable) == ({}, False)


# what EC2 answers for an i3 launched from an instance-store AMI (abridged from a real DescribeInstances)
INSTANCE_STORE = {
    "InstanceId": "i-0123456789abcdef0",
    "ImageId": "ami-0f0e1d2c3b4a59687",
    "InstanceType": "i3.large",
    "State": {"Code": 16, "Name": "running"},
    "LaunchTime": dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    "RootDeviceType": "instance-store",
    "RootDeviceName": "/dev/sda1",
    "BlockDeviceMappings": [],
    "PlatformDetails": "Linux/UNIX",
    "PrivateIpAddress": "10.0.1.5",
    "VpcId": "vpc-0a1b",
    "SubnetId": "subnet-0a1b",
    "NetworkInterfaces": [
        {
            "PrivateIpAddresses": [
                {"PrivateIpAddress": "10.0.1.5", "Primary": True},
                {"PrivateIpAddress": "10.0.1.6"},
            ]
        }
    ],
}


def test_an_instance_store_backed_instance_is_not_eligible_for_agentless_scans():
    from vigil.scanning.coverage import agentless_ineligibility

    instance = instance_from_ec2(INSTANCE_STORE, {}, ACCOUNT, REGION)
    assert (instance.root_device_type, instance.volumes, instance.ip_v4_addresses) == (
        "instance-store",
        (),
        ("10.0.1.5", "10.0.1.6"),
    )
    assert instance.launched_at == dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    assert agentless_ineligibility(instance) == "UNSUPPORTED_OS"


@pytest.mark.parametrize(
    ("ec2_state", "state"),
    [("pending", "pending"), ("running", "running"), ("stopping", "stopped"), ("stopped", "stopped"),
     ("shutting-down", "terminated"), ("terminated", "terminated")],
)  # fmt: skip
def test_ec2_states_map_onto_vigils_four(ec2_state, state):
    item = dict(INSTANCE_STORE, State={"Name": ec2_state})
    assert instance_from_ec2(item, {}, ACCOUNT, REGION).state.value == state


def test_windows_is_known_by_its_platform_details_too():
    item = dict(INSTANCE_STORE, PlatformDetails="Windows with SQL Server Standard")
    assert instance_from_ec2(item, {}, ACCOUNT, REGION).platform is Platform.WINDOWS
    mac = dict(INSTANCE_STORE, InstanceType="mac2.metal")
    assert instance_from_ec2(mac, {}, ACCOUNT, REGION).platform is Platform.MACOS


# -- the command line and the API --------------------------------------------------------------------


def test_the_cli_attaches_an_aws_fleet_and_prints_the_discovery(tmp_path, moto):
    directory = tmp_path / "server"
    root = init_server(directory)["accountId"]
    web = _run(aws_client("ec2", moto), "web")
    printed = json.loads(vigil("server", "fleet", directory, "--account", root, "--aws", "--region", REGION,
                               "--endpoint-url", moto).stdout)  # fmt: skip
    assert (printed["provider"], printed["new"]) == ("aws", [web])
    both = vigil("server", "fleet", directory, "--account", root, "--aws", "--local", "x.yaml", check=False)
    assert both.returncode == 1 and "exactly one of --local FILE and --aws" in both.stderr
    refused = vigil("server", "fleet", directory, "--account", root, "--aws", "--endpoint-url",
                    "http://127.0.0.1:9", check=False)  # fmt: skip
    assert (
        refused.returncode == 1
        and "vigil: aws: ec2:DescribeInstances in us-east-1: cannot reach" in refused.stderr
    )


def _app(fleet: FleetOperations, fleets_dir: Path) -> FastAPI:
    """The providers' routes behind a stand-in for the signature check (the caller from a test header);
    `ACCOUNT` is the server operator's."""
    app = FastAPI()

    @app.middleware("http")
    async def signed_by(request: Request, call_next):
        request.scope[CALLER] = Caller(request.headers["x-test-account"])
        return await call_next(request)

    @app.exception_handler(InspectorError)
    async def inspector_error(request: Request, exc: InspectorError) -> JSONResponse:
        return JSONResponse(
            {"message": exc.message}, status_code=exc.status, headers={"x-amzn-ErrorType": exc.code}
        )

    app.include_router(
        providers_router(fleet, fleets_dir, operator=lambda a: a == ACCOUNT), prefix="/vigil/v1"
    )
    return app


@pytest.fixture
def api(world, tmp_path) -> TestClient:
    return TestClient(_app(FleetOperations(world.services, world.executor), tmp_path / "fleets"))


def test_the_operator_attaches_an_aws_fleet_over_the_api(api, moto):
    web = _run(aws_client("ec2", moto), "web")
    body = {"regions": [REGION], "endpointUrl": moto}
    response = api.put("/vigil/v1/providers/aws", json=body, headers={"x-test-account": ACCOUNT})
    assert response.status_code == 200, response.text
    assert response.json()["discovery"]["new"] == [web]
    (provider,) = api.get("/vigil/v1/providers", headers={"x-test-account": ACCOUNT}).json()["providers"]
    assert (provider["provider"], provider["config"]) == ("aws", {"regions": [REGION], "endpointUrl": moto})
    detached = api.delete("/vigil/v1/providers/aws", headers={"x-test-account": ACCOUNT})
    assert detached.status_code == 200 and detached.json()["discovery"]["vanished"] == [web]
    assert api.get("/vigil/v1/providers", headers={"x-test-account": ACCOUNT}).json()["providers"] == []
    assert api.delete("/vigil/v1/providers/aws", headers={"x-test-account": ACCOUNT}).status_code == 404


def test_another_account_names_a_role_assumed_with_its_account_id_as_external_id(api, moto, monkeypatch):
    as_other = {"x-test-account": OTHER}
    with_endpoint = api.put(
        "/vigil/v1/providers/aws", json={"regions": [REGION], "endpointUrl": moto}, headers=as_other
    )
    assert with_endpoint.status_code == 403 and "endpointUrl" in with_endpoint.json()["message"]
    server_credentials = api.put("/vigil/v1/providers/aws", json={"regions": [REGION]}, headers=as_other)
    assert server_credentials.status_code == 403 and "roleArn" in server_credentials.json()["message"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)  # boto3's own setting: the role's calls go to moto too
    role = f"arn:aws:iam::{MOTO_ACCOUNT}:role/vigil"
    web = _run(aws_client("ec2", moto), "web")
    response = api.put(
        "/vigil/v1/providers/aws", json={"regions": [REGION], "roleArn": role}, headers=as_other
    )
    assert response.status_code == 200, response.text
    assert response.json()["discovery"]["new"] == [web]
    (provider,) = api.get("/vigil/v1/providers", headers=as_other).json()["providers"]
    assert provider["config"] == {"regions": [REGION], "roleArn": role, "externalId": OTHER}


def test_a_malformed_aws_body_is_refused(api):
    for body in ({"regions": []}, {"regions": ["Mars"]}, {"regions": [REGION], "endpointUrl": "ftp://x"},
                 {"regions": [REGION], "colour": 1}):  # fmt: skip
        assert (
            api.put("/vigil/v1/providers/aws", json=body, headers={"x-test-account": ACCOUNT}).status_code
            == 422
        )


# -- moto's EBS direct API serving an image's blocks --------------------------------------------------


def _image(path: Path) -> Path:
    """A 3 MiB raw disk whose blocks 0 and 4 hold data (the others are zeros) and whose last is partial."""
    with path.open("wb") as image:
        image.write(b"\xeb\x63\x90" + bytes(BLOCK_SIZE - 3))
        image.write(bytes(3 * BLOCK_SIZE))
        image.write(b"vigil" * 1000 + bytes(BLOCK_SIZE - 5000))
        image.write(b"\x01" * 1000)
    return path


def _blocks(ebs: Any, snapshot_id: str) -> dict[int, bytes]:
    listed = ebs.list_snapshot_blocks(SnapshotId=snapshot_id)
    assert listed["BlockSize"] == BLOCK_SIZE
    found = {}
    for block in listed["Blocks"]:
        got = ebs.get_snapshot_block(
            SnapshotId=snapshot_id, BlockIndex=block["BlockIndex"], BlockToken=block["BlockToken"]
        )
        data = got["BlockData"].read()
        assert got["Checksum"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert (got["ChecksumAlgorithm"], got["DataLength"]) == ("SHA256", BLOCK_SIZE)
        found[block["BlockIndex"]] = data
    return found


def test_a_linked_snapshot_serves_the_images_non_zero_blocks(moto, tmp_path):
    image = _image(tmp_path / "disk.raw")
    ec2 = aws_client("ec2", moto)
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    assert link_snapshot_blocks(snapshot, image) == 3
    content = image.read_bytes().ljust(6 * BLOCK_SIZE, b"\0")
    expected = {i: content[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE] for i in (0, 4, 5)}
    assert _blocks(aws_client("ebs", moto), snapshot) == expected


def test_snapshots_taken_of_a_registered_volume_get_its_images_blocks(snapshot_images, moto, tmp_path):
    ec2 = aws_client("ec2", moto)
    web = _run(ec2, "web")
    root = ec2.describe_instances(InstanceIds=[web])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"
    ][0]
    snapshot_images.volume_images[root["Ebs"]["VolumeId"]] = _image(tmp_path / "root.raw")
    taken = ec2.create_snapshots(InstanceSpecification={"InstanceId": web})["Snapshots"]
    assert [s["SnapshotId"] for s in taken] == snapshot_images.linked
    assert sorted(_blocks(aws_client("ebs", moto), taken[0]["SnapshotId"])) == [0, 4, 5]
