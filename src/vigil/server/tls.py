"""The server's self-signed TLS certificate, made at `vigil server init`, naming the listen address.

Clients trust it as their CA (boto3's `verify=`, the AWS CLI's `--ca-bundle`; agents pin it). When the server
is asked to listen on an address its certificate does not name, the certificate is issued again with the
same key and the new name added, so a pinned public key stays valid.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vigil.server.settings import Listen

VALIDITY = dt.timedelta(days=3650)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SUBJECT = x509.Name(
    [x509.NameAttribute(NameOID.COMMON_NAME, "Vigil server (self-signed by vigil server init)")]
)


def names_for(listen: Listen) -> list[str]:
    """The names a client may use to reach this listen address (all of this host's for a wildcard)."""
    if not listen.wildcard:
        return [*LOOPBACK_NAMES, listen.host] if listen.loopback else [listen.host]
    hostname = socket.gethostname()
    try:
        # link-local addresses carry a zone (fe80::1%eth0) no certificate can name
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(hostname, None)} - {""}
        addresses = {a for a in addresses if "%" not in a}
    except OSError:
        addresses = set()
    return [*LOOPBACK_NAMES, hostname, *sorted(addresses)]


def make_certificate(certificate: Path, private_key: Path, names: Sequence[str], now: dt.datetime) -> None:
    """A new key (0600) and a self-signed certificate for these names."""
    certificate.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(private_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    _issue(certificate, key, names, now)


def ensure_names(certificate: Path, private_key: Path, names: Iterable[str], now: dt.datetime) -> bool:
    """Issue Vigil's own certificate again (same key) when it lacks one of these names; True when it did.
    A certificate someone else issued is theirs to change."""
    current = x509.load_pem_x509_certificate(certificate.read_bytes())
    if current.issuer != SUBJECT or current.subject != SUBJECT:
        return False
    known = _names(current)
    missing = [name for name in names if name not in known]
    if not missing:
        return False
    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{private_key}: not the EC key `vigil server init` makes")
    _issue(certificate, key, [*sorted(known), *missing], now)
    return True


def _names(certificate: x509.Certificate) -> set[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    addresses = {str(a) for a in extension.get_values_for_type(x509.IPAddress)}
    return addresses | set(extension.get_values_for_type(x509.DNSName))


def _issue(
    certificate: Path, key: ec.EllipticCurvePrivateKey, names: Sequence[str], now: dt.datetime
) -> None:
    subject = SUBJECT
    public = key.public_key()
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in dict.fromkeys(names)]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    temporary = certificate.with_name(f".{certificate.name}.tmp")
    temporary.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    temporary.replace(certificate)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
