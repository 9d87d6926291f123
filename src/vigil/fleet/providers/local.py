"""The `local` provider: a fleet file (YAML) listing an account's instances, their disk image files and
their KMS keys, re-read at every discovery.

```yaml
instances:
  - instanceId: i-0a1b2c3d4e5f60001
    state: running                  # pending | running | stopped | terminated
    platform: LINUX                 # LINUX | WINDOWS | MACOS (default LINUX)
    imageId: ami-0123456789abcdef0  # optional, like instanceType, launchedAt, keyName, vpcId, subnetId
    tags: {Name: web-01}
    machineId: 0f3b5c0e2a6d4e8f9a1b2c3d4e5f6a7b   # optional: the agent registering from it is bound to it
    volumes:                        # attachment order
      - {volumeId: vol-01, device: /dev/xvda, file: images/web-01.qcow2, sizeGiB: 8, encrypted: false}
kmsKeys:
  - {keyId: key-1, tags: {InspectorEc2Exclusion: ""}, usable: true}
network:                            # optional: the EC2 and ELB APIs' Describe* shapes (vigil.network.ec2)
  Vpcs: [{VpcId: vpc-0a1b2c3d4e5f60001, CidrBlock: 10.0.0.0/16}]
```

A volume's `file` is relative to the fleet file and must stay inside its folder (symbolic links resolved):
an account attaching a fleet file over the API must not make the server read other files of the host as
disks. The file is read bounded, without YAML aliases (no entity-expansion bomb), and every problem is
reported with where it is, never with the file's content. The `network:` section is read as the analysis
will read it (`network.SecurityGroups[0].IpPermissions[1].FromPort: not an integer`), and an interface
attached to an instance names one of `instances`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from vigil.fleet.model import Instance, InstanceState, KmsKey, Platform, Volume
from vigil.fleet.providers import FleetDescription, ProviderError
from vigil.fs.hostfile import read_bounded
from vigil.network.ec2 import NetworkDescriptionError, description_digest, topology_from_description

MAX_FLEET_FILE = 16 << 20
GIB = 1 << 30
_PROBLEMS_SHOWN = 20

InstanceId = Annotated[str, StringConstraints(pattern=r"^i-([a-z0-9]{8}|[a-z0-9]{17})$")]
# /etc/machine-id (32 hex digits) or a DMI product UUID: what a registering agent says of its machine
MachineId = Annotated[
    str,
    StringConstraints(
        pattern=r"^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
    ),
]
VolumeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
Device = Annotated[str, StringConstraints(pattern=r"^/dev/[A-Za-z0-9._/-]{1,64}$")]
AmiId = Annotated[str, StringConstraints(pattern=r"^ami-([a-z0-9]{8}|[a-z0-9]{17})$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(max_length=256)]
Tags = dict[TagKey, TagValue | None]  # `InspectorEc2Exclusion:` with no value is an empty one


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel)


class VolumeSpec(_Spec):
    volume_id: VolumeId
    device: Device
    file: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    size_gib: Annotated[int | None, Field(alias="sizeGiB", ge=1, le=1 << 20)] = None
    encrypted: bool = False
    kms_key_id: Text | None = None


class InstanceSpec(_Spec):
    instance_id: InstanceId
    machine_id: MachineId | None = None  # binds the agent that registers from this machine
    state: Literal["pending", "running", "stopped", "terminated"]
    platform: Literal["LINUX", "WINDOWS", "MACOS"] = "LINUX"
    image_id: AmiId | None = None
    instance_type: Text | None = None
    launched_at: Annotated[dt.datetime, Field(strict=False)] | None = None  # a YAML timestamp or a string
    key_name: Text | None = None
    vpc_id: Text | None = None
    subnet_id: Text | None = None
    tags: Annotated[Tags, Field(max_length=50)] = {}
    volumes: list[VolumeSpec] = []


class KmsKeySpec(_Spec):
    key_id: Text
    tags: Annotated[Tags, Field(max_length=50)] = {}
    usable: bool = True


class FleetSpec(_Spec):
    instances: list[InstanceSpec] = []
    kms_keys: list[KmsKeySpec] = []
    network: dict[str, Any] | None = None  # checked by `_network_problems`


class LocalProvider:
    """An account's fleet as a fleet file describes it (read again at every `describe`)."""

    kind = "local"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        if not path.is_absolute():
            raise ProviderError(f"{path}: the fleet file must be named by an absolute path")
        self.path = path

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LocalProvider:
        return cls(str(config["path"]))

    def config(self) -> dict[str, Any]:
        return {"path": str(self.path)}

    def describe(self, account_id: str) -> FleetDescription:
        return read_fleet_file(self.path, account_id)


def read_fleet_file(path: Path, account_id: str) -> FleetDescription:
    """The fleet file at `path` as `account_id`'s fleet; `ProviderError` listing every problem found."""
    spec = _parse(path)
    folder = Path(os.path.realpath(path.parent))
    problems = _duplicates(spec)
    keys = {k.key_id for k in spec.kms_keys}
    instances = []
    for i, item in enumerate(spec.instances):
        volumes = []
        for v, volume in enumerate(item.volumes):
            where = f"instances[{i}].volumes[{v}] ({volume.volume_id})"
            if volume.kms_key_id is not None and volume.kms_key_id not in keys:
                problems.append(f"{where}: kmsKeyId {volume.kms_key_id} is not one of kmsKeys")
            if volume.kms_key_id is not None and not volume.encrypted:
                problems.append(f"{where}: kmsKeyId is set but the volume is not encrypted")
            try:
                volumes.append(_volume(volume, folder, terminated=item.state == "terminated"))
            except ProviderError as exc:
                problems.append(f"{where}: {exc}")
        instances.append(_instance(item, account_id, tuple(volumes)))
    if spec.network is not None:
        problems += _network_problems(spec.network, {i.instance_id for i in spec.instances})
    if problems:
        raise _invalid(path, problems)
    kms_keys = tuple(KmsKey(k.key_id, _tags(k.tags), k.usable) for k in spec.kms_keys)
    return FleetDescription(tuple(instances), kms_keys, spec.network)


def _network_problems(network: Mapping[str, Any], instance_ids: set[str]) -> list[str]:
    """What keeps the analysis from reading the `network:` section, or the store from keeping it as JSON
    (a YAML timestamp is not JSON: quote it); an interface attached to an instance the file does not list."""
    try:
        description_digest(network)
        topology = topology_from_description(network)
    except NetworkDescriptionError as exc:
        where = "network" if exc.where == "the description" else f"network.{exc.where}"
        return [f"{where}: {exc.problem}"]
    return [
        f"network: network interface {i.network_interface_id} is attached to {i.instance_id}, "
        "which is not one of instances"
        for i in topology.network_interfaces
        if i.instance_id is not None and i.instance_id not in instance_ids
    ]


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors and aliases: a fleet file has no use for them, and a few nested aliases expand
    into billions of nodes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                None, None, "aliases (*name) are not allowed in a fleet file", event.start_mark
            )
        return super().compose_node(parent, index)


def _parse(path: Path) -> FleetSpec:
    try:
        text = read_bounded(str(path), MAX_FLEET_FILE)
    except OSError as exc:
        raise ProviderError(f"{path}: cannot read the fleet file: {exc.strerror or exc}") from None
    except ValueError:
        raise ProviderError(f"{path}: the fleet file is larger than {MAX_FLEET_FILE >> 20} MiB") from None
    try:
        document = yaml.load(text, Loader=_NoAliases)  # a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ProviderError(f"{path}: not valid YAML: {where}{exc.problem}") from None
    except yaml.YAMLError:
        raise ProviderError(f"{path}: not valid YAML") from None
    if document is None:
        document = {}
    try:
        return FleetSpec.model_validate(document)
    except ValidationError as exc:
        raise _invalid(path, [_problem(error) for error in exc.errors(include_input=False)]) from None


def _problem(error: Any) -> str:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    return f"{where.lstrip('.') or 'the document'}: {error['msg']}"


def _invalid(path: Path, problems: list[str]) -> ProviderError:
    shown = problems[:_PROBLEMS_SHOWN]
    more = f"\n  … and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return ProviderError(f"{path}: invalid fleet file:\n  " + "\n  ".join(shown) + more)


def _duplicates(spec: FleetSpec) -> list[str]:
    problems = []
    for what, ids in (
        ("instanceId", [i.instance_id for i in spec.instances]),
        ("machineId", [i.machine_id for i in spec.instances if i.machine_id is not None]),
        ("volumeId", [v.volume_id for i in spec.instances for v in i.volumes]),
        ("keyId", [k.key_id for k in spec.kms_keys]),
    ):
        seen: set[str] = set()
        for value in ids:
            if value in seen:
                problems.append(f"{what} {value} appears more than once")
            seen.add(value)
    return problems


def _volume(spec: VolumeSpec, folder: Path, *, terminated: bool) -> Volume:
    """The volume, its image file checked (a terminated instance's disks may be gone: not checked)."""
    source = Path(os.path.realpath(folder / spec.file))
    if not terminated:
        if Path(spec.file).is_absolute() or not source.is_relative_to(folder):
            raise ProviderError(f"file {spec.file} is outside the fleet file's folder {folder}")
        try:
            mode = os.stat(source).st_mode
        except OSError as exc:
            raise ProviderError(f"file {spec.file}: {exc.strerror}") from None
        if not stat.S_ISREG(mode):
            raise ProviderError(f"file {spec.file} is not a regular file")
    size = spec.size_gib
    if size is None:
        size = math.ceil(_virtual_size(source, folder) / GIB) if not terminated else 1
    return Volume(spec.volume_id, spec.device, size, spec.encrypted, spec.kms_key_id, str(source))


def _virtual_size(source: Path, folder: Path) -> int:
    """The disk's size as the guest sees it (a qcow2's virtual size, not the file's)."""
    from vigil.fs.image.containers import open_disk
    from vigil.fs.image.errors import ImageError
    from vigil.fs.image.reader import ReadBudget

    try:
        disk = open_disk(source, ReadBudget.with_timeout(30.0), backing_dirs=(folder,))
    except ImageError as exc:
        raise ProviderError(f"cannot read the disk's size (give sizeGiB): {exc}") from None
    try:
        return disk.size
    finally:
        disk.close()


def _tags(tags: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value or "" for key, value in tags.items()}


def _instance(spec: InstanceSpec, account_id: str, volumes: tuple[Volume, ...]) -> Instance:
    launched = spec.launched_at
    if launched is not None:  # YAML timestamps without a zone are UTC
        launched = launched.replace(tzinfo=dt.UTC) if launched.tzinfo is None else launched.astimezone(dt.UTC)
    return Instance(
        account_id=account_id,
        instance_id=spec.instance_id,
        state=InstanceState(spec.state),
        platform=Platform(spec.platform),
        image_id=spec.image_id,
        instance_type=spec.instance_type,
        launched_at=launched,
        key_name=spec.key_name,
        vpc_id=spec.vpc_id,
        subnet_id=spec.subnet_id,
        tags=_tags(spec.tags),
        volumes=volumes,
        provider=LocalProvider.kind,
        machine_id=spec.machine_id,
    )
