"""packaging/vigil-agent.service: hardened for an agent that reads the whole system and writes only its
state, and accepted by systemd itself where systemd-analyze exists."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "vigil-agent.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(UNIT)
    return parser


def test_the_service_writes_only_its_state_directory():
    service = _unit()["Service"]
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/vigil-agent"
    assert service["StateDirectory"] == "vigil-agent" and service["StateDirectoryMode"] == "0700"
    assert service["ProtectHome"] == "read-only"  # custom deep-inspection paths may be under /home
    assert service["PrivateTmp"] == "yes" and service["UMask"] == "0077"


def test_the_service_is_hardened_and_kept_light():
    service = _unit()["Service"]
    for option in (
        "NoNewPrivileges",
        "ProtectKernelTunables",
        "ProtectControlGroups",
        "ProtectKernelModules",
    ):
        assert service[option] == "yes", option
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert service["CapabilityBoundingSet"] == "CAP_DAC_READ_SEARCH"
    assert service["Restart"] == "on-failure"
    assert int(service["Nice"]) >= 10 and service["IOSchedulingClass"] == "idle"
    assert 0 < int(service["CPUQuota"].rstrip("%")) <= 50


def test_the_service_runs_the_agent_on_its_state_directory():
    parser = _unit()
    command = parser["Service"]["ExecStart"].split()
    assert command[1:] == ["agent", "run", "--state", "/var/lib/vigil-agent"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in parser["Unit"]["After"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(tmp_path):
    vigil = Path(sys.executable).with_name("vigil")  # ExecStart must name an existing program
    assert vigil.exists()
    unit = tmp_path / "vigil-agent.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/vigil", str(vigil)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "vigil-agent.service" not in result.stderr, result.stderr
