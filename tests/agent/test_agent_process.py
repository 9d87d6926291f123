"""`vigil agent run` as a process, against the loopback protocol server: both inventories delivered, a
package install reported without waiting for the schedule (inotify and the poll), a clean exit on SIGTERM,
and not one server-side module imported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from tests.agent.conftest import add_package
from tests.agent.loopback import ACTIVATION_CODE, ACTIVATION_ID
from tests.support.cli import vigil

SERVER_SIDE = ("vigil.api", "vigil.server", "vigil.store", "vigil.scanning", "vigil.fleet", "vigil.findings",
               "sqlalchemy", "fastapi", "uvicorn", "botocore", "httpx", "starlette")  # fmt: skip


def _imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("watch", ["inotify", "poll"])
def test_the_agent_delivers_reports_an_install_and_stops_on_sigterm(server, rootfs, tmp_path, watch):
    state = tmp_path / "state"
    registered = vigil("agent", "register", "--server", server.url, "--activation-id", ACTIVATION_ID,
                       "--activation-code", ACTIVATION_CODE, "--ca-cert", tmp_path / "certs/server.pem",
                       "--state", state, "--root", rootfs)  # fmt: skip
    assert json.loads(registered.stdout)["instanceId"]
    server.state.heartbeat["collect"]["full"]["paths"] = ["/opt/shop"]
    command = [sys.executable, "-X", "importtime", "-m", "vigil", "agent", "run", "--state", str(state),
               "--root", str(rootfs), "--heartbeat", "1", *(["--poll"] if watch == "poll" else [])]  # fmt: skip
    agent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.state.handled(lambda s: {i["kind"] for i in s.inventories()} == {"os", "full"}, 30)
        first_os = next(i for i in server.state.inventories() if i["kind"] == "os")
        add_package(rootfs, "nginx", "1.22.1-9")
        assert server.state.handled(lambda s: len([i for i in s.inventories() if i["kind"] == "os"]) == 2, 30)
        report = [i for i in server.state.inventories() if i["kind"] == "os"][1]
        assert report["base"] == first_os["contentHash"]
        (added,) = [edit[1] for edit in report["packageEdits"] if edit[0] == "+"]
        assert [p["name"] for p in added] == ["nginx"]
        assert server.state.handled(lambda s: s.paths().count("/agent/v1/heartbeat") >= 3, 30)
    finally:
        agent.send_signal(signal.SIGTERM)
        _stdout, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 0, stderr[-3000:]
    assert "agent stopped" in stderr
    imported = _imported(stderr)
    assert "vigil.agent.runner" in imported and "vigil.inventory.collect" in imported
    assert not {m for m in imported if m.startswith(SERVER_SIDE)}
    accepted = server.state.accepted["agent-1", "os"]
    assert (
        accepted
        == report["contentHash"]
        == json.loads((state / "accepted-os.json").read_text())["contentHash"]
    )
    assert not (state / "pending-os.json").exists() and not (state / "pending-full.json").exists()
    assert oct(os.stat(state).st_mode & 0o777) == "0o700"
