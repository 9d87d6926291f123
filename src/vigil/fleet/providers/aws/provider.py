"""The `aws` provider: an account's EC2 instances in its regions, as `DescribeInstances` and `DescribeVolumes`
say (paginated), and the KMS keys of their encrypted volumes with their tags (`InspectorEc2Exclusion`).

EC2's states map onto Vigil's four: `stopping` is stopped and `shutting-down` terminated already (neither
comes back). `Platform: windows` (or a `PlatformDetails` of Windows) is WINDOWS, a `mac*` instance type
MACOS, anything else LINUX. An instance whose root device is an instance store (`RootDeviceType:
instance-store`) keeps that in `root_device_type`: its disk has no snapshot, so agentless scans cannot cover
it. A volume's `source` is its volume id (snapshots are taken of it); its size, encryption and KMS key come
from `DescribeVolumes`, asked after `DescribeInstances` so that a volume attached meanwhile is known. A region
that cannot be read fails the whole description: nothing is taken for vanished because of a read error.

The network (`FleetDescription.network`) is every region's VPCs, subnets, route tables, gateways, peering
connections, ACLs, security groups, prefix lists, interfaces and load balancers (`network.describe_network`).
A network Describe* that fails (a permission not granted, a throttled call out of retries) does not lose the
fleet: the instances are described all the same, `network` is None with `network_error` saying why (the
provider cannot say what the network is: discovery keeps the last description it had) and the failure is
logged. A part of the network is never given as if it were all of it: a missing ACL or security group would
read as nothing reachable, closing real findings.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from vigil.fleet.model import Instance, InstanceState, KmsKey, Platform, Volume
from vigil.fleet.providers import FleetDescription, ProviderError
from vigil.fleet.providers.aws.access import AwsAccess, problem
from vigil.fleet.providers.aws.network import describe_network, paginate

log = logging.getLogger("vigil.fleet")

PAGE_SIZE = 500  # DescribeInstances takes 5 to 1,000 a page, DescribeVolumes 5 to 500

_STATES = {
    "pending": InstanceState.PENDING,
    "running": InstanceState.RUNNING,
    "stopping": InstanceState.STOPPED,
    "stopped": InstanceState.STOPPED,
    "shutting-down": InstanceState.TERMINATED,
    "terminated": InstanceState.TERMINATED,
}
# a key the credentials may not read, or that is gone or disabled: its volumes cannot be read either
_KEY_UNUSABLE = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
    }
)


class AwsProvider:
    """An account's EC2 fleet in the regions its `AwsAccess` names."""

    kind = "aws"

    def __init__(self, access: AwsAccess, *, page_size: int = PAGE_SIZE) -> None:
        self.access = access
        self.page_size = page_size

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AwsProvider:
        return cls(AwsAccess.from_config(config))

    def config(self) -> dict[str, Any]:
        return self.access.config()

    def describe(self, account_id: str) -> FleetDescription:
        instances: list[Instance] = []
        keys: list[KmsKey] = []
        for region in self.access.regions:
            found = self._instances(account_id, region)
            instances.extend(found)
            key_ids = {v.kms_key_id for i in found for v in i.volumes if v.kms_key_id is not None}
            keys.extend(self._keys(region, sorted(key_ids)))
        network, error = self._network()
        return FleetDescription(tuple(instances), tuple(keys), network, network_error=error)

    def _network(self) -> tuple[dict[str, Any] | None, str | None]:
        """The network of every region, or why (logged) some part of it could not be read."""
        try:
            return describe_network(self.access, self.page_size), None
        except ProviderError as exc:
            log.warning("the network is not described, the last description is kept: %s", exc)
            return None, str(exc)

    def _instances(self, account_id: str, region: str) -> list[Instance]:
        ec2 = self.access.client("ec2", region)
        items = [
            item
            for reservation in self._pages(ec2, "describe_instances", "Reservations", region)
            for item in reservation.get("Instances", [])
        ]
        volumes = {v["VolumeId"]: v for v in self._pages(ec2, "describe_volumes", "Volumes", region)}
        return [instance_from_ec2(item, volumes, account_id, region) for item in items]

    def _pages(self, client: Any, operation: str, member: str, region: str) -> Iterator[Any]:
        return paginate(client, operation, member, region, self.page_size)

    def _keys(self, region: str, key_ids: list[str]) -> list[KmsKey]:
        if not key_ids:
            return []
        kms = self.access.client("kms", region)
        return [_key(kms, key_id, region) for key_id in key_ids]


def _key(kms: Any, key_id: str, region: str) -> KmsKey:
    """The key's tags and whether it can be used: one the credentials may not describe or whose tags they
    may not read is unusable (its volumes are not read: they might be excluded by a tag not seen)."""
    doing = f"kms:DescribeKey {key_id} in {region}"
    try:
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        tags: dict[str, str] = {}
        if metadata.get("KeyManager") != "AWS":  # AWS managed keys (aws/ebs) carry no tags
            doing = f"kms:ListResourceTags {key_id} in {region}"
            for page in kms.get_paginator("list_resource_tags").paginate(KeyId=key_id):
                tags.update({t["TagKey"]: t.get("TagValue", "") for t in page.get("Tags", [])})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _KEY_UNUSABLE:
            return KmsKey(key_id, {}, usable=False)
        raise problem(exc, doing, doing.split()[0]) from None
    except BotoCoreError as exc:
        raise problem(exc, doing, doing.split()[0]) from None
    usable = bool(metadata.get("Enabled")) and metadata.get("KeyState", "Enabled") == "Enabled"
    return KmsKey(key_id, tags, usable)


def instance_from_ec2(
    item: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]], account_id: str, region: str
) -> Instance:
    """One instance of a `DescribeInstances` answer as Vigil's account `account_id`'s (not AWS's owner id),
    its volumes described by `volumes` (`DescribeVolumes`' by id), the root volume first."""
    launched = item.get("LaunchTime")
    return Instance(
        account_id=account_id,
        instance_id=item["InstanceId"],
        state=_STATES.get(item.get("State", {}).get("Name", ""), InstanceState.TERMINATED),
        platform=_platform(item),
        image_id=item.get("ImageId"),
        instance_type=item.get("InstanceType"),
        launched_at=launched.astimezone(dt.UTC) if isinstance(launched, dt.datetime) else None,
        key_name=item.get("KeyName"),
        vpc_id=item.get("VpcId"),
        subnet_id=item.get("SubnetId"),
        ip_v4_addresses=_addresses(item),
        tags={t["Key"]: t.get("Value", "") for t in item.get("Tags", [])},
        volumes=_volumes(item, volumes),
        provider=AwsProvider.kind,
        region=region,
        root_device_type=item.get("RootDeviceType", "ebs"),
    )


def _platform(item: Mapping[str, Any]) -> Platform:
    if item.get("Platform") == "windows" or str(item.get("PlatformDetails", "")).startswith("Windows"):
        return Platform.WINDOWS
    if str(item.get("InstanceType", "")).startswith("mac"):
        return Platform.MACOS
    return Platform.LINUX


def _addresses(item: Mapping[str, Any]) -> tuple[str, ...]:
    """Private, then public IPv4 addresses of every network interface (the primary one first)."""
    private, public = [item.get("PrivateIpAddress")], [item.get("PublicIpAddress")]
    for interface in item.get("NetworkInterfaces", []):
        for address in interface.get("PrivateIpAddresses", []):
            private.append(address.get("PrivateIpAddress"))
            public.append(address.get("Association", {}).get("PublicIp"))
    return tuple(dict.fromkeys(a for a in private + public if a))


def _volumes(item: Mapping[str, Any], described: Mapping[str, Mapping[str, Any]]) -> tuple[Volume, ...]:
    """The attached EBS volumes, the root device's first (a volume detached and deleted since
    `DescribeInstances` is left out: it is no longer attached)."""
    root = item.get("RootDeviceName")
    mappings = sorted(item.get("BlockDeviceMappings", []), key=lambda m: m.get("DeviceName") != root)
    volumes = []
    for mapping in mappings:
        volume_id = mapping.get("Ebs", {}).get("VolumeId")
        volume = described.get(volume_id or "")
        if volume_id is None or volume is None:
            continue
        encrypted = bool(volume.get("Encrypted"))
        kms_key_id = volume.get("KmsKeyId") if encrypted else None
        volumes.append(
            Volume(volume_id, mapping["DeviceName"], int(volume["Size"]), encrypted, kms_key_id, volume_id)
        )
    return tuple(volumes)
