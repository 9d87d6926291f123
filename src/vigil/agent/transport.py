"""Talking to the server: HTTPS with the server's certificate pinned, signed JSON requests, typed errors.

At registration the TLS handshake is verified the ordinary way (against `--ca-cert` without a host name
check, since agents may reach the server by an address its certificate does not name, or against the
system's trust store with one), and the server's leaf certificate is kept. Every later connection accepts
exactly that certificate (its SHA-256 is compared after the handshake, before a byte of the request is
sent), or one with the same public key: `vigil server` issues its certificate again, with the same key,
when it is asked to listen on an address the certificate does not name. Plain HTTP is for a server on
the loopback interface only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.agent import protocol

TIMEOUT = 30.0  # seconds for connecting and for each read
INVENTORY_TIMEOUT = 300.0  # the server evaluates an inventory before it answers
MAX_ANSWER = 1 << 20  # bytes of an answer read at most: the agent's answers are small


class TransportError(Exception):
    """A request did not get an answer from the server."""


class Unreachable(TransportError):
    """No connection, a broken one, or an answer that is not the protocol's (worth retrying)."""


class CertificateError(TransportError):
    """The server's certificate is not the one expected (not verified, or not the pinned one)."""


class ServerError(TransportError):
    """The server answered with an error (HTTP status >= 400, body `{"code", "message"}`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ServerURL:
    scheme: str  # "https" | "http"
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ServerURL:
        """ValueError when `text` is not an https:// URL (or http:// on loopback) without path or query."""
        url = urllib.parse.urlsplit(text.strip())
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(f"{text!r}: the server's URL is https://HOST[:PORT]")
        if url.path not in ("", "/") or url.query or url.fragment or url.username:
            raise ValueError(f"{text!r}: the server's URL is https://HOST[:PORT], without path or query")
        try:
            port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"{text!r}: not a valid port") from None
        if url.scheme == "http" and not is_loopback(url.hostname):
            raise ValueError(f"{text!r}: plain http:// only for a server on this machine's loopback")
        return cls(url.scheme, url.hostname, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, hex."""
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    der: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.der)

    @property
    def public_key_fingerprint(self) -> str | None:
        """SHA-256 of the certificate's SubjectPublicKeyInfo (None when it cannot be parsed)."""
        from cryptography import x509  # only at registration and when the certificate changed
        from cryptography.hazmat.primitives import serialization

        try:
            key = x509.load_der_x509_certificate(self.der).public_key()
        except ValueError:
            return None
        spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(spki).hexdigest()

    @property
    def pem(self) -> str:
        return ssl.DER_cert_to_PEM_cert(self.der)


@dataclass(frozen=True, slots=True)
class Pin:
    """The server's certificate as registration saw it: its SHA-256, and its public key's."""

    certificate: str
    public_key: str | None = None

    def admits(self, peer: PeerCertificate | None) -> bool:
        if peer is None:
            return False
        if peer.fingerprint == self.certificate:
            return True
        return self.public_key is not None and peer.public_key_fingerprint == self.public_key


def verifying_context(ca_cert: str | None) -> ssl.SSLContext:
    """Registration's TLS: the chain verified against `ca_cert` (no host name check) or the system store."""
    if ca_cert is None:
        return ssl.create_default_context()
    try:
        context = ssl.create_default_context(cafile=ca_cert)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{ca_cert}: not a readable PEM certificate ({exc})") from None
    context.check_hostname = False
    return context


def pinned_context() -> ssl.SSLContext:
    """Later connections: any chain, then the leaf compared with the pinned fingerprint."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Connection:
    """JSON requests to one server: verified by `context`, and when `pin` is given, only to the server
    presenting that certificate. A new connection per request: the agent talks once a minute."""

    def __init__(
        self,
        url: ServerURL,
        *,
        context: ssl.SSLContext | None = None,
        pin: Pin | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        if url.scheme == "https" and context is None:
            raise ValueError("https needs a TLS context")
        self.url = url
        self.context = context
        self.pin = pin
        self.timeout = timeout
        self.peer: PeerCertificate | None = None  # the certificate the last connection presented

    def post(
        self,
        path: str,
        payload: dict[str, Any],
        headers: Callable[[bytes], dict[str, str]],
        timeout: float | None = None,
    ) -> Any:
        """POST `payload` as JSON (with the headers `headers(body)` gives) and return the JSON answer."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        connection = self._connect()
        try:
            if timeout is not None and connection.sock is not None:
                connection.sock.settimeout(timeout)
            connection.request(
                "POST",
                path,
                body=body,
                headers={"content-type": "application/json", "accept": "application/json", **headers(body)},
            )
            response = connection.getresponse()
            answer = response.read(MAX_ANSWER + 1)
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(f"{self.url}{path}: {_reason(exc)}") from None
        finally:
            connection.close()
        return _decode(f"{self.url}{path}", status, answer)

    def _connect(self) -> http.client.HTTPConnection:
        if self.url.scheme == "http":
            connection = http.client.HTTPConnection(self.url.host, self.url.port, timeout=self.timeout)
        else:
            connection = http.client.HTTPSConnection(
                self.url.host, self.url.port, timeout=self.timeout, context=self.context
            )
        try:
            connection.connect()
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            raise CertificateError(
                f"{self.url}: the server's certificate does not verify ({exc.verify_message})"
            ) from None
        except OSError as exc:
            connection.close()
            raise Unreachable(f"{self.url}: {_reason(exc)}") from None
        if isinstance(connection.sock, ssl.SSLSocket):
            der = connection.sock.getpeercert(binary_form=True)
            self.peer = PeerCertificate(der) if der else None
            if self.pin is not None and not self.pin.admits(self.peer):
                connection.close()
                presented = self.peer.fingerprint if self.peer else "none"
                raise CertificateError(
                    f"{self.url}: the server presents a certificate (SHA-256 {presented}) other than the "
                    f"one pinned at registration ({self.pin.certificate}); nothing was sent. If the "
                    "server's certificate was replaced on purpose, register the agent again with --force"
                )
            if self.pin is not None and self.peer is not None:  # re-issued with the same key: pin it too
                self.pin = Pin(self.peer.fingerprint, self.pin.public_key)
        return connection


class AgentClient:
    """The signed calls of a registered agent."""

    def __init__(
        self, connection: Connection, agent_id: str, secret: str, now: Callable[[], dt.datetime]
    ) -> None:
        self.connection = connection
        self.agent_id = agent_id
        self.secret = secret
        self.now = now

    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._call(protocol.HEARTBEAT, payload)

    def inventory(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._call(protocol.INVENTORY, payload, INVENTORY_TIMEOUT)

    def rotate(self) -> str:
        """A new secret from the server (the caller keeps it, then `use_secret`s it)."""
        secret = self._call(protocol.ROTATE, {}).get("secret")
        if not isinstance(secret, str) or not secret:
            raise Unreachable(f"{self.connection.url}{protocol.ROTATE}: the answer carries no secret")
        return secret

    def use_secret(self, secret: str) -> None:
        self.secret = secret

    def _call(self, path: str, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        def signed(body: bytes) -> dict[str, str]:
            return protocol.signed_headers(self.secret, self.agent_id, "POST", path, body, self.now())

        answer = self.connection.post(path, payload, signed, timeout)
        if not isinstance(answer, dict):
            raise Unreachable(f"{self.connection.url}{path}: the answer is not a JSON object")
        return answer


def _decode(where: str, status: int, answer: bytes) -> Any:
    if len(answer) > MAX_ANSWER:
        raise Unreachable(f"{where}: an answer of more than {MAX_ANSWER} bytes")
    try:
        data = json.loads(answer) if answer else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if status >= 400:
        error = data if isinstance(data, dict) else {}
        code, message = error.get("code"), error.get("message")
        raise ServerError(
            status,
            code if isinstance(code, str) else f"HTTP{status}",
            message if isinstance(message, str) else answer[:200].decode("utf-8", "replace"),
        )
    if data is None:
        raise Unreachable(f"{where}: HTTP {status} without a JSON answer")
    return data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__
