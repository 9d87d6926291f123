"""What every layer of the fleet service knows of an instance, frozen (DESIGN §2)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

EXCLUSION_TAG = "InspectorEc2Exclusion"  # on an instance or a KMS key: leave it out
SCAN_TAG = "InspectorScan"  # on a snapshot: the scan that made it


class InstanceState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATED = "terminated"


class Platform(enum.StrEnum):
    LINUX = "LINUX"
    WINDOWS = "WINDOWS"
    MACOS = "MACOS"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Volume:
    volume_id: str
    device: str
    size_gib: int
    encrypted: bool = False
    kms_key_id: str | None = None
    source: str | None = None  # where the provider reads it: a disk image file (local), a snapshot id (aws)


@dataclass(frozen=True, slots=True)
class KmsKey:
    key_id: str
    tags: dict[str, str] = field(default_factory=dict)
    usable: bool = True  # whether the provider may use it to read what it encrypts

    @property
    def excluded(self) -> bool:
        return EXCLUSION_TAG in self.tags


@dataclass(frozen=True, slots=True)
class Instance:
    """An EC2-like instance of one account, as its provider describes it."""

    account_id: str
    instance_id: str
    state: InstanceState
    platform: Platform = Platform.LINUX
    image_id: str | None = None
    instance_type: str | None = None
    launched_at: dt.datetime | None = None
    key_name: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    ip_v4_addresses: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()
    provider: str = "local"
    machine_id: str | None = None  # the OS's machine id (or DMI product UUID): binds a registering agent
    region: str | None = None  # where the provider finds it (aws: its region; local: none)
    root_device_type: str = "ebs"  # "instance-store": its root disk has no snapshot (aws)

    @property
    def excluded(self) -> bool:
        return EXCLUSION_TAG in self.tags

    def ec2_details(self) -> dict[str, Any]:
        """Inspector's `AwsEc2InstanceDetails` (absent members left out)."""
        details: dict[str, Any] = {"platform": self.platform.value}
        for key, value in (
            ("imageId", self.image_id),
            ("type", self.instance_type),
            ("launchedAt", self.launched_at),
            ("keyName", self.key_name),
            ("vpcId", self.vpc_id),
            ("subnetId", self.subnet_id),
        ):
            if value is not None:
                details[key] = value
        if self.ip_v4_addresses:
            details["ipV4Addresses"] = list(self.ip_v4_addresses)
        return details
