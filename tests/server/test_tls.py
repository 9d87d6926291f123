"""The self-signed certificate: it names where the server listens, and is issued again (same key) when the
server is asked to listen somewhere else; a certificate the user brought is left alone."""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vigil.server import tls
from vigil.server.settings import Listen

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)


def _names(path):
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in extension.get_values_for_type(x509.IPAddress)} | set(
        extension.get_values_for_type(x509.DNSName)
    )


def _public_key(path):
    return (
        x509.load_pem_x509_certificate(path.read_bytes())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_a_loopback_listen_address_is_named_with_every_loopback_name(tmp_path):
    certificate, key = tmp_path / "c.pem", tmp_path / "k.pem"
    tls.make_certificate(certificate, key, tls.names_for(Listen.parse("127.0.0.1:8443")), NOW)
    assert {"127.0.0.1", "::1", "localhost"} <= _names(certificate)
    assert key.stat().st_mode & 0o777 == 0o600
    parsed = x509.load_pem_x509_certificate(certificate.read_bytes())
    assert parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_another_address_is_added_with_the_same_key(tmp_path):
    certificate, key = tmp_path / "c.pem", tmp_path / "k.pem"
    tls.make_certificate(certificate, key, tls.names_for(Listen.parse("127.0.0.1:8443")), NOW)
    before = _public_key(certificate)
    assert tls.ensure_names(certificate, key, tls.names_for(Listen.parse("192.0.2.7:8443")), NOW)
    assert {"192.0.2.7", "127.0.0.1"} <= _names(certificate)
    assert _public_key(certificate) == before
    assert not tls.ensure_names(certificate, key, ["192.0.2.7"], NOW)


def test_a_wildcard_address_names_this_hosts_own_names():
    names = tls.names_for(Listen.parse("0.0.0.0:8443"))
    assert "localhost" in names and "0.0.0.0" not in names
    assert all("%" not in n for n in names)


def test_a_certificate_the_user_brought_is_never_reissued(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigil.example")])
    theirs = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certificate = tmp_path / "theirs.pem"
    certificate.write_bytes(theirs.public_bytes(serialization.Encoding.PEM))
    assert not tls.ensure_names(certificate, tmp_path / "unused.pem", ["127.0.0.1"], NOW)
    assert certificate.read_bytes() == theirs.public_bytes(serialization.Encoding.PEM)
