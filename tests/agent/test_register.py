"""Registration and pinning against a real TLS server on 127.0.0.1: `--ca-cert` verifies the chain, the
leaf certificate is pinned, and a server presenting another certificate later gets not one byte."""

from __future__ import annotations

import json

import pytest
from tests.agent.loopback import ACTIVATION_CODE, ACTIVATION_ID, LoopbackServer, make_certificate
from tests.support.cli import vigil

from vigil.agent.register import RegistrationError, hints, register
from vigil.agent.service import open_agent
from vigil.agent.state import StateDir
from vigil.agent.transport import CertificateError, ServerURL


def _register(server, tmp_path, *extra, state="state", ca=None, **kwargs):
    ca = ca or server_ca(tmp_path)
    return vigil(
        "agent", "register", "--server", server.url, "--activation-id", kwargs.get("activation_id", ACTIVATION_ID),
        "--activation-code", ACTIVATION_CODE, "--ca-cert", ca, "--state", tmp_path / state, *extra, check=False,
    )  # fmt: skip


def server_ca(tmp_path):
    return tmp_path / "certs" / "server.pem"


def test_registration_pins_the_certificate_it_verified(server, certificate, tmp_path):
    result = _register(server, tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer == {"instanceId": "i-00000000000000001"}
    identity = StateDir(tmp_path / "state").load_identity()
    assert identity.fingerprint == certificate.fingerprint
    assert identity.server_url == server.url and identity.secret == server.state.agents["agent-1"].secret
    assert (tmp_path / "state/server.pem").read_text() == certificate.cert.read_text()
    register_body = server.state.requests[0][1]
    assert register_body["platform"] == "LINUX" and register_body["agentVersion"]


def test_a_server_presenting_another_certificate_later_gets_nothing(server, tmp_path, caplog):
    assert _register(server, tmp_path).returncode == 0
    server.use_certificate(make_certificate(tmp_path / "other", "impostor"))
    agent = open_agent(tmp_path / "state", root=str(tmp_path))
    try:
        with pytest.raises(CertificateError, match="other than the one pinned at registration"):
            agent.client.heartbeat({})
        agent.step()  # the loop logs it and backs off
    finally:
        agent.watcher.close()
    assert server.state.handled(lambda state: state.empty_connections == 2)
    assert server.state.paths() == ["/agent/v1/register"]
    assert "nothing was sent" in caplog.text


def test_a_certificate_issued_again_with_the_same_key_stays_trusted(server, tmp_path):
    from cryptography.hazmat.primitives import serialization

    assert _register(server, tmp_path).returncode == 0
    key = serialization.load_pem_private_key((tmp_path / "certs/server.key").read_bytes(), None)
    server.use_certificate(make_certificate(tmp_path / "reissued", "server", key=key))
    agent = open_agent(tmp_path / "state", root=str(tmp_path))
    try:
        assert agent.client.heartbeat({"agentVersion": "x", "inventory": {}})["instanceId"]
    finally:
        agent.watcher.close()


def test_a_certificate_that_does_not_verify_against_the_ca_is_refused(server, tmp_path):
    other = make_certificate(tmp_path / "other", "unrelated")
    result = _register(server, tmp_path, ca=other.cert)
    assert result.returncode == 1
    assert result.stderr.startswith("vigil: registration failed: ") and "does not verify" in result.stderr
    assert server.state.requests == [] and not (tmp_path / "state/identity.json").exists()


def test_without_a_ca_the_system_store_is_used_and_refuses_a_self_signed_server(server, tmp_path):
    with pytest.raises(RegistrationError, match="does not verify"):
        register(StateDir(tmp_path / "state"), server.url, ACTIVATION_ID, ACTIVATION_CODE)


def test_a_refused_activation_is_one_line_with_its_code(server, tmp_path):
    result = _register(server, tmp_path, activation_id="act-unknown")
    assert result.returncode == 1
    assert result.stderr == "vigil: registration refused: InvalidActivation: no such activation\n"


def test_registering_again_needs_force_and_forgets_the_old_inventories(server, tmp_path):
    assert _register(server, tmp_path).returncode == 0
    again = _register(server, tmp_path)
    assert again.returncode == 1 and "already registered; --force" in again.stderr
    (tmp_path / "state/pending-os.json").write_text('{"kind": "os", "contentHash": "x", "document": {}}')
    forced = _register(server, tmp_path, "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout) == {"instanceId": "i-00000000000000002"}
    assert not (tmp_path / "state/pending-os.json").exists()


def test_plain_http_only_for_loopback(tmp_path):
    assert ServerURL.parse("http://127.0.0.1:8080").scheme == "http"
    assert ServerURL.parse("http://[::1]:8080").host == "::1"
    for url in ("http://10.0.0.5:8080", "ftp://127.0.0.1", "https://h/agent", "https://h:99999"):
        with pytest.raises(ValueError):
            ServerURL.parse(url)
    result = vigil("agent", "register", "--server", "http://192.0.2.1", "--activation-id", "a",
                   "--activation-code", "c", "--state", tmp_path / "s", check=False)  # fmt: skip
    assert result.returncode == 1 and "loopback" in result.stderr


def test_registration_over_http_on_loopback_pins_nothing(tmp_path):
    with LoopbackServer(None) as server:
        identity = register(StateDir(tmp_path / "state"), server.url, ACTIVATION_ID, ACTIVATION_CODE)
    assert identity.fingerprint is None and not (tmp_path / "state/server.pem").exists()


def test_the_hints_of_a_tree_come_from_the_tree_only(rootfs):
    (rootfs / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (rootfs / "etc/vigil-agent").mkdir()
    (rootfs / "etc/vigil-agent/instance-id").write_text("i-0aaaabbbbccccdddd\n")
    assert hints(str(rootfs)) == {
        "machineId": "0123456789abcdef0123456789abcdef", "productUuid": None, "hostname": None,
        "instanceId": "i-0aaaabbbbccccdddd", "addresses": [],
    }  # fmt: skip


def test_the_hints_of_the_host_name_it():
    host = hints("/")
    assert host["hostname"] and all(not a.startswith("127.") for a in host["addresses"])
    assert host["productUuid"] is None or host["productUuid"] == host["productUuid"].lower()


def test_registration_sends_the_tree_s_instance_id(server, rootfs, tmp_path):
    (rootfs / "etc/vigil-agent").mkdir()
    (rootfs / "etc/vigil-agent/instance-id").write_text("i-0aaaabbbbccccdddd\n")
    result = _register(server, tmp_path, "--root", rootfs)
    assert json.loads(result.stdout) == {"instanceId": "i-0aaaabbbbccccdddd"}
