"""Registration: an activation (id and code, made by the server's admin) exchanged for the agent's identity,
with the server's certificate pinned from then on.

The hints let the server match the agent to an instance it already knows (from a provider or a local fleet
file). A `--root` other than `/` is another machine's tree: only what is read from that tree is sent.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
from typing import Any

import vigil
from vigil.agent import protocol
from vigil.agent.state import Identity, StateDir
from vigil.agent.transport import (
    TIMEOUT,
    Connection,
    ServerError,
    ServerURL,
    TransportError,
    verifying_context,
)

INSTANCE_ID_FILE = "etc/vigil-agent/instance-id"  # under the root: an instance id given by hand
_SIOCGIFADDR = 0x8915


class RegistrationError(Exception):
    """The agent could not register (the message says why, for the user)."""


def register(
    state: StateDir,
    server_url: str,
    activation_id: str,
    activation_code: str,
    *,
    ca_cert: str | None = None,
    root: str = "/",
    force: bool = False,
    timeout: float = TIMEOUT,
) -> Identity:
    """Register with the server and keep the identity and the server's certificate in `state`."""
    try:
        url = ServerURL.parse(server_url)
    except ValueError as exc:
        raise RegistrationError(f"--server: {exc}") from None
    if ca_cert is not None and url.scheme != "https":
        raise RegistrationError("--ca-cert: only for an https:// server")
    if state.has_identity() and not force:
        raise RegistrationError(
            f"{state.path}: this agent is already registered; --force registers it again (a new identity)"
        )
    try:
        context = verifying_context(ca_cert) if url.scheme == "https" else None
    except ValueError as exc:
        raise RegistrationError(f"--ca-cert: {exc}") from None
    state.ensure()
    connection = Connection(url, context=context, timeout=timeout)
    body = {
        "activationId": activation_id,
        "activationCode": activation_code,
        "platform": "LINUX",
        "agentVersion": vigil.__version__,
        "hints": hints(root),
    }
    try:
        answer = connection.post(protocol.REGISTER, body, lambda _body: {})
    except ServerError as exc:
        verb = "refused" if exc.status in (400, 403) else "failed"
        raise RegistrationError(f"registration {verb}: {exc.code}: {exc.message}") from None
    except TransportError as exc:
        raise RegistrationError(f"registration failed: {exc}") from None
    identity = _identity(answer, url, connection)
    if force:
        state.forget_inventories()
    if connection.peer is not None:
        state.save_certificate(connection.peer.pem)
    state.save_identity(identity)
    return identity


def _identity(answer: Any, url: ServerURL, connection: Connection) -> Identity:
    fields = ("agentId", "instanceId", "accountId", "secret")
    if not isinstance(answer, dict) or not all(isinstance(answer.get(f), str) and answer[f] for f in fields):
        raise RegistrationError(f"registration failed: the server's answer lacks one of {', '.join(fields)}")
    return Identity(
        agent_id=answer["agentId"],
        instance_id=answer["instanceId"],
        account_id=answer["accountId"],
        secret=answer["secret"],
        server_url=str(url),
        fingerprint=connection.peer.fingerprint if connection.peer else None,
        public_key=connection.peer.public_key_fingerprint if connection.peer else None,
    )


def hints(root: str = "/") -> dict[str, Any]:
    """What identifies the machine (DESIGN §7's register body); a tree other than `/` gives only its files."""
    is_host = os.path.realpath(root) == "/"
    product_uuid = _read(os.path.join(root, "sys/class/dmi/id/product_uuid")) if is_host else None
    return {
        "machineId": _read(os.path.join(root, "etc/machine-id")),
        "productUuid": product_uuid.lower() if product_uuid else None,
        "hostname": socket.gethostname() if is_host else None,
        "instanceId": _read(os.path.join(root, INSTANCE_ID_FILE)),
        "addresses": ipv4_addresses() if is_host else [],
    }


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(4096).strip()
    except OSError:
        return None
    return text or None


def ipv4_addresses() -> list[str]:
    """This host's non-loopback IPv4 addresses, one per interface (best effort: [] when unknown)."""
    addresses: list[str] = []
    try:
        interfaces = socket.if_nameindex()
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return addresses
    with probe:
        for _index, name in interfaces:
            try:
                request = struct.pack("256s", name.encode()[:15])
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            address = ipaddress.IPv4Address(answer[20:24])
            if not address.is_loopback and str(address) not in addresses:
                addresses.append(str(address))
    return addresses
