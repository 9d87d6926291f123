"""AWS in a test: moto's server on loopback in this process, dummy credentials, and EBS snapshots whose blocks
are a disk image's.

Fixtures: `moto_server` (one per session: its endpoint URL, with dummy credentials in the environment) and
`moto` (per test: the same server, its state reset first). Register them from a conftest with
`pytest_plugins = ["tests.support.moto"]` or import them.

moto runs in this process (not as a subprocess) so that a test can reach into its backends: moto's EC2
snapshots hold no data and its EBS direct API serves only snapshots made through `StartSnapshot`, so
`link_snapshot_blocks` gives an EC2 snapshot an EBS-direct twin of the same id whose blocks are an image's,
and `snapshot_images` does that for every snapshot taken of the volumes it knows.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ACCOUNT = "123456789012"  # moto's account for any access key it does not know
REGION = "us-east-1"
BLOCK_SIZE = 512 << 10  # EBS direct APIs' block size: 512 KiB (moto says 512)
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
# nothing of the developer's own AWS set-up may reach a test
UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[str]:
    """moto's server on a free loopback port for the whole session, and dummy credentials in the
    environment (no config or credentials file of the user's is read): its endpoint URL."""
    from moto.server import ThreadedMotoServer

    empty = tmp_path_factory.mktemp("aws-config") / "none"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        for name in UNSET:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(empty))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def moto(moto_server: str) -> str:
    """The session's moto server with nothing in it: its endpoint URL."""
    reset_moto(moto_server)
    return moto_server


def reset_moto(endpoint: str) -> None:
    """Forget every resource of every service (moto's `/moto-api/reset`)."""
    response = httpx.post(f"{endpoint}/moto-api/reset", timeout=30)
    response.raise_for_status()


def aws_client(service: str, endpoint: str, region: str = REGION) -> Any:
    """A boto3 client of moto's server with the dummy credentials (one attempt: a test fails now)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60),
    )


def link_snapshot_blocks(
    ec2_snapshot_id: str, image_path: str | os.PathLike[str], account: str = ACCOUNT, region: str = REGION
) -> int:
    """Make moto's EBS direct API serve the EC2 snapshot `ec2_snapshot_id` as a completed snapshot whose
    blocks (512 KiB; only the non-zero ones, as EBS lists them) are the raw image's: returns how many.

    The image is read as raw bytes (convert a qcow2 first); a last partial block is padded with zeros.
    """
    from moto.ebs.models import EBSSnapshot, ebs_backends
    from moto.ec2.models import ec2_backends

    snapshot = ec2_backends[account][region].snapshots[ec2_snapshot_id]
    linked = EBSSnapshot(account_id=account, snapshot=snapshot)
    linked.status = "completed"
    linked.block_size = BLOCK_SIZE
    zero = bytes(BLOCK_SIZE)
    with open(image_path, "rb") as image:
        index = 0
        while block := image.read(BLOCK_SIZE):
            block = block.ljust(BLOCK_SIZE, b"\0")
            if block != zero:
                checksum = base64.b64encode(hashlib.sha256(block).digest()).decode()
                linked.put_block(index, block, checksum, "SHA256", BLOCK_SIZE)
            index += 1
    ebs_backends[account][region].snapshots[ec2_snapshot_id] = linked
    return len(linked.blocks)


@dataclass
class SnapshotImages:
    """Which raw image each volume's snapshots hold: `volume_images[volume_id] = image_path`."""

    volume_images: dict[str, Path] = field(default_factory=dict)
    linked: list[str] = field(default_factory=list)  # the snapshot ids given blocks, in order


@pytest.fixture
def snapshot_images(moto: str, monkeypatch: pytest.MonkeyPatch) -> SnapshotImages:
    """Every EC2 snapshot taken (`CreateSnapshot` or `CreateSnapshots`) of a volume in `volume_images`
    gets that image's blocks in moto's EBS direct API, as `link_snapshot_blocks` gives them."""
    from moto.ec2.models import EC2Backend

    images = SnapshotImages()
    create_snapshot = EC2Backend.create_snapshot

    def linking(backend: EC2Backend, volume_id: str, *args: Any, **kwargs: Any) -> Any:
        snapshot = create_snapshot(backend, volume_id, *args, **kwargs)
        image = images.volume_images.get(volume_id)
        if image is not None:
            link_snapshot_blocks(snapshot.id, image, backend.account_id, backend.region_name)
            images.linked.append(snapshot.id)
        return snapshot

    # CreateSnapshots calls create_snapshot per volume: one hook serves both
    monkeypatch.setattr(EC2Backend, "create_snapshot", linking)
    return images
