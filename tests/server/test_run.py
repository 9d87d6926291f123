"""`vigil server run` as a process: it stops cleanly on SIGTERM, comes back with all its state (SQLite and
PostgreSQL), serves plain HTTP only on loopback, and names in its certificate the address it listens on."""

from __future__ import annotations

import signal
import socket
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from tests.api.organization import build_organization


def test_sigterm_stops_the_server_cleanly_and_frees_its_port(server_factory):
    server = server_factory()
    server.client().batch_get_account_status()
    port = urlsplit(server.endpoint).port
    assert server.stop(signal.SIGTERM) == 0
    assert "Application shutdown complete" in server.log_text()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_a_restarted_server_has_all_its_state(server_factory, database_url):
    server = server_factory("--database-url", database_url)
    org = build_organization(server)
    admin = server.client(org.admin)
    admin.enable(accountIds=[org.a.account_id], resourceTypes=["EC2"])
    admin.update_configuration(
        accountId=org.b.account_id, ec2Configuration={"scanMode": "EC2_SSM_AGENT_BASED"}
    )
    admin.update_org_ec2_deep_inspection_configuration(orgPackagePaths=["/srv/shared"])
    server.client(org.a).update_ec2_deep_inspection_configuration(packagePaths=["/opt/a"])
    assert server.stop() == 0

    server.start()
    admin = server.client(org.admin)
    assert {m["accountId"] for m in admin.list_members()["members"]} == {org.a.account_id, org.b.account_id}
    state = admin.batch_get_account_status(accountIds=[org.a.account_id])["accounts"][0]["state"]
    assert state["status"] == "ENABLED"
    mode = admin.get_configuration(accountId=org.b.account_id)["ec2Configuration"]["scanModeState"][
        "scanMode"
    ]
    assert mode == "EC2_SSM_AGENT_BASED"
    deep = server.client(org.a).get_ec2_deep_inspection_configuration()
    assert (deep["packagePaths"], deep["orgPackagePaths"]) == (["/opt/a"], ["/srv/shared"])
    assert (
        server.client().get_delegated_admin_account()["delegatedAdmin"]["accountId"] == org.admin.account_id
    )


def test_a_server_killed_with_sigkill_comes_back_with_what_it_had_committed(server_factory):
    server = server_factory()
    keys = server.new_account("survivor")
    server.client(keys).enable(resourceTypes=["EC2"])
    server.stop(signal.SIGKILL)
    server.start()
    assert server.client(keys).batch_get_account_status()["accounts"][0]["state"]["status"] == "ENABLED"


def test_plain_http_on_loopback_still_needs_signed_requests(server_factory):
    server = server_factory(start=False).start(http=True)
    assert server.endpoint.startswith("http://127.0.0.1:")
    assert server.client(endpoint_url=server.endpoint).batch_get_account_status()["accounts"]
    with pytest.raises(ClientError) as excinfo:
        server.client(
            endpoint_url=server.endpoint, aws_secret_access_key="wrong" * 8
        ).batch_get_account_status()
    assert excinfo.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_listening_on_an_address_the_certificate_did_not_name_adds_it(server_factory):
    server = server_factory(start=False).start(listen="127.0.0.2:0")
    assert urlsplit(server.endpoint).hostname == "127.0.0.2"
    assert server.client().batch_get_account_status()["accounts"]  # verified against the same CA file
