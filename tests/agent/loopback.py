"""A small server speaking the agent protocol on 127.0.0.1 (HTTPS, or HTTP), for the agent's tests, and
self-signed certificates for it. The end-to-end tests against Vigil's own server live elsewhere."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vigil.agent import protocol

ACTIVATION_ID = "act-0123456789abcdef"
ACTIVATION_CODE = "code-secret"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    der: bytes

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def make_certificate(
    directory: Path, name: str, key: ec.EllipticCurvePrivateKey | None = None
) -> Certificate:
    """A self-signed certificate for 127.0.0.1 (a new key unless one is given)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test server {name}")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificate(cert, key_path, certificate.public_bytes(serialization.Encoding.DER))


@dataclass
class Agent:
    agent_id: str
    instance_id: str
    secret: str


@dataclass
class ProtocolState:
    """What the server knows and how it answers; tests change it between requests."""

    agents: dict[str, Agent] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (path, body) of each
    contents: dict[str, dict[str, Any]] = field(default_factory=dict)  # content hash -> document
    accepted: dict[tuple[str, str], str] = field(default_factory=dict)  # (agent id, kind) -> hash
    heartbeat: dict[str, Any] = field(
        default_factory=lambda: {
            "excluded": False,
            "rotateSecret": False,
            "collect": {"os": {"every": 1800}, "full": {"every": 21600, "paths": []}},
            "associations": [],
        }
    )
    failures: list[tuple[str, int, str]] = field(default_factory=list)  # (path, status, code) to answer next
    empty_connections: int = 0  # connections that closed before sending a byte of a request

    def handled(self, what: Callable[[ProtocolState], bool], timeout: float = 10.0) -> bool:
        """Whether `what` becomes true within `timeout` seconds (the server's threads may lag the client)."""
        deadline = time.monotonic() + timeout
        while not what(self):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def inventories(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path == protocol.INVENTORY]


class LoopbackServer:
    """The protocol on 127.0.0.1, in a thread; `use_certificate` changes what later handshakes present."""

    def __init__(self, certificate: Certificate | None) -> None:
        self.state = ProtocolState()
        self.lock = threading.Lock()
        self.context: ssl.SSLContext | None = None
        if certificate is not None:
            self.use_certificate(certificate)
        self.httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.context else "http"
        return f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def use_certificate(self, certificate: Certificate) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert, certificate.key)
        self.context = context

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the protocol -----------------------------------------------------------------------------
    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            body = json.loads(raw)
            self.state.requests.append((path, body))
            for i, (failing, status, code) in enumerate(self.state.failures):
                if failing == path:
                    del self.state.failures[i]
                    return status, {"code": code, "message": f"{code} (as the test asked)"}
            if path == protocol.REGISTER:
                return self._register(body)
            agent = self._verify(path, headers, raw)
            if agent is None:
                return 401, {"code": "InvalidSignature", "message": "the signature does not match"}
            if path == protocol.HEARTBEAT:
                return 200, {"agentId": agent.agent_id, "instanceId": agent.instance_id,
                             "serverTime": dt.datetime.now(dt.UTC).isoformat(), **self.state.heartbeat}  # fmt: skip
            if path == protocol.ROTATE:
                agent.secret = secrets.token_hex(32)
                return 200, {"secret": agent.secret}
            if path == protocol.INVENTORY:
                return self._inventory(agent, body)
            return 404, {"code": "NotFound", "message": path}

    def _register(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("activationId") != ACTIVATION_ID or body.get("activationCode") != ACTIVATION_CODE:
            return 400, {"code": "InvalidActivation", "message": "no such activation"}
        number = len(self.state.agents) + 1
        instance = (body.get("hints") or {}).get("instanceId") or f"i-{number:017x}"
        agent = Agent(f"agent-{number}", instance, secrets.token_hex(32))
        self.state.agents[agent.agent_id] = agent
        return 201, {"agentId": agent.agent_id, "instanceId": instance, "accountId": "111122223333",
                     "secret": agent.secret}  # fmt: skip

    def _verify(self, path: str, headers: dict[str, str], raw: bytes) -> Agent | None:
        agent = self.state.agents.get(headers.get(protocol.AGENT_HEADER, ""))
        if agent is None:
            return None
        expected = protocol.signature(
            agent.secret, "POST", path, headers.get(protocol.DATE_HEADER, ""),
            headers.get(protocol.NONCE_HEADER, ""), raw, agent.agent_id,
        )  # fmt: skip
        return agent if hmac.compare_digest(expected, headers.get(protocol.SIGNATURE_HEADER, "")) else None

    def _inventory(self, agent: Agent, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        from vigil.inventory.model import Inventory

        kind, claimed = body["kind"], body["contentHash"]
        if body.get("unchanged"):
            if claimed not in self.state.contents:
                return 409, {"code": "UnknownContent", "message": claimed}
            document = self.state.contents[claimed]
        elif "packageEdits" in body:
            if self.state.accepted.get((agent.agent_id, kind)) != body["base"]:
                return 409, {"code": "BaseMismatch", "message": body["base"]}
            base = self.state.contents[body["base"]]
            packages = protocol.apply_edits(base["packages"], body["packageEdits"], limit=100_000)
            document = {**body["document"], "packages": packages}
        else:
            document = body["document"]
        if Inventory.from_json(document).content_hash != claimed:
            return 400, {"code": "ContentHashMismatch", "message": claimed}
        self.state.contents[claimed] = document
        self.state.accepted[agent.agent_id, kind] = claimed
        return 200, {"accepted": claimed}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        if self.owner.context is not None:
            connection = self.owner.context.wrap_socket(connection, server_side=True)
        return connection, address


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def handle_one_request(self) -> None:
        super().handle_one_request()
        if not getattr(self, "raw_requestline", b"x"):
            with self.server.owner.lock:
                self.server.owner.state.empty_connections += 1

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer = self.server.owner.answer(self.path, headers, raw)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass
