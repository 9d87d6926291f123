"""What no peer does, end to end: `vigil agent run` in its own network namespace, bound by its machine id to an
instance of a fleet file whose `network:` section opens a TCP port to the internet, reports Debian's python3
listening on that port; `vigil server run` names the process and its dpkg package in the NETWORK_REACHABILITY
finding boto3 lists, and in the finding's exposure."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from tests.agent.test_network_end_to_end import (
    PYTHON,
    SERVE,
    _dpkg_version,
    _free_port,
    agent_in_namespace,
    namespace,
)
from tests.support.server import LiveServer, init_server, until

__all__ = ["namespace"]  # the fixture, imported for this module's test
INSTANCE = "i-0a1b2c3d4e5f6a0b1"


def _network(port: int) -> dict:
    vpc, subnet = "vpc-0a1b2c3d4e5f6a0b1", "subnet-0a1b2c3d4e5f6a0b1"
    return {
        "Vpcs": [{"VpcId": vpc, "CidrBlock": "10.30.0.0/16"}],
        "Subnets": [{"SubnetId": subnet, "VpcId": vpc, "CidrBlock": "10.30.1.0/24"}],
        "InternetGateways": [{"InternetGatewayId": "igw-0a1b2c3d4e5f6a0b1", "Attachments": [{"VpcId": vpc}]}],
        "RouteTables": [
            {"RouteTableId": "rtb-0a1b2c3d4e5f6a0b1", "VpcId": vpc, "Associations": [{"Main": True}],
             "Routes": [{"DestinationCidrBlock": "10.30.0.0/16", "GatewayId": "local"},
                        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0a1b2c3d4e5f6a0b1"}]}
        ],
        "NetworkAcls": [
            {"NetworkAclId": "acl-0a1b2c3d4e5f6a0b1", "VpcId": vpc, "IsDefault": True,
             "Entries": [{"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": egress,
                          "CidrBlock": "0.0.0.0/0"} for egress in (False, True)]}
        ],
        "SecurityGroups": [
            {"GroupId": "sg-0a1b2c3d4e5f6a0b1", "VpcId": vpc,
             "IpPermissions": [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                                "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
        ],
        "NetworkInterfaces": [
            {"NetworkInterfaceId": "eni-0a1b2c3d4e5f6a0b1", "SubnetId": subnet, "PrivateIpAddress": "10.30.1.10",
             "Groups": [{"GroupId": "sg-0a1b2c3d4e5f6a0b1"}], "Association": {"PublicIp": "198.51.100.30"},
             "Attachment": {"InstanceId": INSTANCE, "DeviceIndex": 0}}
        ],
    }  # fmt: skip


def test_the_process_listening_on_a_reachable_port_and_its_package_are_named(tmp_path: Path, namespace):
    machine_id = Path("/etc/machine-id")
    if not os.path.exists(PYTHON) or not machine_id.is_file() or not machine_id.read_text().strip():
        pytest.fail("this test needs Debian's python3 and a machine id")
    name, host_address = namespace
    in_namespace = ["ip", "netns", "exec", name]
    served = LiveServer(tmp_path / "vigil", init_server(tmp_path / "vigil"))
    served.update_settings(schedule={"reevaluate": dt.timedelta(seconds=1)})
    url = f"https://{host_address}:{_free_port(host_address)}"
    served.start(listen=url.removeprefix("https://"))
    listener = subprocess.Popen([*in_namespace, PYTHON, "-c", SERVE], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    agent: subprocess.Popen[bytes] | None = None
    try:
        assert listener.stdout is not None
        port, _ = map(int, listener.stdout.readline().split())
        fleet = served.dir / "fleets" / served.root.account_id / "fleet.yaml"
        fleet.parent.mkdir(parents=True)
        fleet.write_text(json.dumps({
            "instances": [{"instanceId": INSTANCE, "state": "running",
                           "machineId": machine_id.read_text().strip()}],
            "network": _network(port),
        }))  # fmt: skip
        attached = served.request("PUT", "/vigil/v1/providers/local", json_body={"path": str(fleet)})
        assert attached.status_code == 200, attached.text
        served.client().enable(resourceTypes=["EC2"])
        log = tmp_path / "agent.log"
        instance_id, agent = agent_in_namespace(served, url, in_namespace, tmp_path / "state", log)
        assert instance_id == INSTANCE  # bound by its machine id
        package = f"python3.11-minimal {_dpkg_version('python3.11-minimal')}"
        criteria = {"findingType": [{"comparison": "EQUALS", "value": "NETWORK_REACHABILITY"}]}

        def named():
            found = served.client().list_findings(filterCriteria=criteria)["findings"]
            return [f for f in found if package in f["description"]]

        (finding,) = until(named, f"the listener named\n{log.read_text(errors='replace')[-3000:]}", 90)
        assert finding["title"] == f"Port {port} is reachable from an Internet Gateway - TCP"
        assert (
            f"python3 ({os.path.realpath(PYTHON)}) of package {package} on TCP {port}"
            in finding["description"]
        )
        view = served.request("GET", f"/vigil/v1/findings/{finding['findingArn']}/exposure").json()
        (listening,) = view["listeners"]
        assert (listening["port"], listening["process"]) == (port, "python3")
        assert listening["package"]["name"] == "python3.11-minimal"
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
        listener.kill()
        listener.wait(30)
        served.stop()
