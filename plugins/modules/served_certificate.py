"""Reads the certificate a TLS listener serves for a name: its issuer and expiry, as a status
report needs them. It does not verify the chain: it reports what clients are given."""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
import ssl
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: served_certificate
short_description: Report the certificate a TLS listener serves for a server name
description:
  - Opens a TLS connection with the name as SNI and reads the leaf certificate that comes back,
    without verifying it, so that an expired or untrusted certificate is reported, not refused.
  - Needs only Python's standard library on the target.
options:
  server_name:
    description: Name sent as SNI (the domain the certificate is for).
    type: str
    required: true
  host:
    description: Address to connect to.
    type: str
    default: 127.0.0.1
  port:
    description: TLS port.
    type: int
    default: 443
  timeout:
    description: Seconds for the connection and the handshake.
    type: float
    default: 10
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Read the certificate served for the site
  fastapi_deploy.toolkit.served_certificate:
    server_name: example.com
  register: certificate
"""

RETURN = r"""
subject:
  description: The certificate's subject, as name=value pairs.
  type: str
  returned: success
issuer:
  description: The certificate's issuer, as name=value pairs.
  type: str
  returned: success
names:
  description: The DNS names the certificate covers.
  type: list
  elements: str
  returned: success
not_after:
  description: End of validity, ISO 8601 in UTC.
  type: str
  returned: success
days_left:
  description: Whole days until the end of validity (negative once expired).
  type: int
  returned: success
sha256:
  description: SHA-256 of the certificate (DER), in hex; tells one certificate from another.
  type: str
  returned: success
"""


def served_certificate_der(host: str, port: int, server_name: str, timeout: float) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout) as connection,
        context.wrap_socket(connection, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der


def decode_certificate(der: bytes) -> dict[str, Any]:
    """The standard library decodes a certificate only from a PEM file (the same decoder that
    `getpeercert()` uses on a verified connection); the target needs no cryptography package."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as pem:
        pem.write(ssl.DER_cert_to_PEM_cert(der))
    try:
        return ssl._ssl._test_decode_cert(pem.name)
    finally:
        os.unlink(pem.name)


def distinguished_name(name: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    return ", ".join(f"{key}={value}" for rdn in name for key, value in rdn)


def summary(decoded: dict[str, Any], now: datetime.datetime) -> dict[str, Any]:
    not_after = datetime.datetime.fromtimestamp(
        ssl.cert_time_to_seconds(decoded["notAfter"]), tz=datetime.UTC
    )
    return {
        "subject": distinguished_name(decoded.get("subject", ())),
        "issuer": distinguished_name(decoded.get("issuer", ())),
        "names": [value for kind, value in decoded.get("subjectAltName", ()) if kind == "DNS"],
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": (not_after - now).days,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "server_name": {"type": "str", "required": True},
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 443},
            "timeout": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        der = served_certificate_der(
            params["host"], params["port"], params["server_name"], params["timeout"]
        )
    except (OSError, ssl.SSLError) as error:
        module.fail_json(
            msg=f"no certificate from {params['host']}:{params['port']} for "
            f"{params['server_name']}: {error}"
        )
    now = datetime.datetime.now(tz=datetime.UTC)
    module.exit_json(
        changed=False,
        sha256=hashlib.sha256(der).hexdigest(),
        **summary(decode_certificate(der), now),
    )


if __name__ == "__main__":
    main()
