"""A Debian-like tree for the agent to inventory, and a loopback protocol server with its certificate."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.agent.loopback import Certificate, LoopbackServer, make_certificate

DEMO_ROOTFS = Path(__file__).resolve().parents[2] / "demo" / "rootfs"


def add_package(root: Path, name: str, version: str = "1.0-1") -> None:
    """Install a package the way dpkg does: a new status file renamed over the old one."""
    status = root / "var/lib/dpkg/status"
    stanza = f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n"
    new = status.with_name("status-new")
    new.write_text(status.read_text() + stanza)
    new.replace(status)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    shutil.copytree(DEMO_ROOTFS, root, symlinks=True)
    return root


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path / "certs", "server")


@pytest.fixture
def server(certificate: Certificate) -> Iterator[LoopbackServer]:
    with LoopbackServer(certificate) as running:
        yield running
