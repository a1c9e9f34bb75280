"""The status report's certificate reader: over a real TLS handshake on loopback, it reports the
certificate served for the name asked (issuer, names, expiry), trusted or not."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.modules import served_certificate
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2027, 1, 29, 12, 0, tzinfo=datetime.UTC)


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Issuer")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_listener(tmp_path: Path) -> Iterator[int]:
    """A loopback TLS server that completes one handshake per connection."""
    cert_file, key_file = self_signed(tmp_path, "app.example.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with context.wrap_socket(connection, server_side=True):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(10)


def test_reports_issuer_names_and_days_left_of_the_served_certificate(tls_listener: int) -> None:
    der = served_certificate.served_certificate_der(
        "127.0.0.1", tls_listener, "app.example.test", timeout=5
    )
    report = served_certificate.summary(served_certificate.decode_certificate(der), NOW)
    assert report == {
        "subject": "commonName=app.example.test",
        "issuer": "commonName=Test Issuer",
        "names": ["app.example.test"],
        "not_after": "2027-01-29T12:00:00Z",
        "days_left": 60,
    }


def test_an_expired_certificate_has_negative_days_left(tls_listener: int) -> None:
    der = served_certificate.served_certificate_der(
        "127.0.0.1", tls_listener, "app.example.test", timeout=5
    )
    later = NOT_AFTER + datetime.timedelta(days=3, hours=1)
    report = served_certificate.summary(served_certificate.decode_certificate(der), later)
    assert report["days_left"] == -4


def test_no_listener_is_an_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(OSError):
        served_certificate.served_certificate_der("127.0.0.1", port, "x.test", timeout=2)
