"""The certificate comes from the ACME CA (Pebble here), names the domain and is in date."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import testinfra
from conftest import Response, Site

testinfra_hosts = ["ansible://fastapi_servers"]


def served_certificate(client: testinfra.host.Host, site: Site, *x509_args: str) -> str:
    return client.check_output(
        f"openssl s_client -connect {site.server_address}:443 -servername {site.domain} "
        f"</dev/null 2>/dev/null | openssl x509 -noout {' '.join(x509_args)}"
    )


def test_chain_verifies_against_the_acme_root(https_get: Callable[..., Response]) -> None:
    assert https_get("/health").status == 200


def test_chain_does_not_verify_against_another_root(
    client: testinfra.host.Host, site: Site
) -> None:
    other_root = "/etc/ssl/certs/ca-certificates.crt"
    result = client.run(f"curl -sS -o /dev/null --cacert {other_root} '{site.url('/health')}'")
    assert result.rc == 60  # curl: peer certificate cannot be authenticated


def test_certificate_names_the_domain(client: testinfra.host.Host, site: Site) -> None:
    names = served_certificate(client, site, "-ext", "subjectAltName")
    assert f"DNS:{site.domain}" in names


def test_certificate_is_issued_by_the_acme_ca(client: testinfra.host.Host, site: Site) -> None:
    assert "Pebble" in served_certificate(client, site, "-issuer")


def test_certificate_is_in_date(client: testinfra.host.Host, site: Site) -> None:
    assert (
        client.run(
            f"openssl s_client -connect {site.server_address}:443 -servername {site.domain} "
            "</dev/null 2>/dev/null | openssl x509 -noout -checkend 0"
        ).rc
        == 0
    )


def tls_handshake(client: testinfra.host.Host, site: Site, version: str) -> bool:
    # SECLEVEL=0 so that the client itself is willing to offer old versions: a refusal then
    # comes from the server.
    return (
        client.run(
            f"openssl s_client -{version} -cipher 'DEFAULT@SECLEVEL=0' "
            f"-connect {site.server_address}:443 -servername {site.domain} </dev/null"
        ).rc
        == 0
    )


@pytest.mark.parametrize("version", ["tls1", "tls1_1"])
def test_old_tls_versions_are_refused(
    client: testinfra.host.Host, site: Site, version: str
) -> None:
    assert not tls_handshake(client, site, version)


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_current_tls_versions_are_accepted(
    client: testinfra.host.Host, site: Site, version: str
) -> None:
    assert tls_handshake(client, site, version)


def test_http2_is_negotiated(client: testinfra.host.Host, site: Site, pebble_root: str) -> None:
    version = client.check_output(
        f"curl -sS --http2 -o /dev/null -w '%{{http_version}}' --cacert {pebble_root} "
        f"'{site.url('/health')}'"
    )
    assert version == "2"


def http_redirect(client: testinfra.host.Host, site: Site, method: str) -> tuple[int, str]:
    output = client.check_output(
        f"curl -sS -X {method} -o /dev/null -w '%{{http_code}} %{{redirect_url}}' "
        f"'{site.url('/health', 'http')}'"
    )
    status, location = output.split(" ", 1)
    return int(status), location


def test_http_redirects_to_https(client: testinfra.host.Host, site: Site) -> None:
    """Permanent: 301 (Traefik, for GET) or 308 (Caddy), to the same URL over HTTPS."""
    status, location = http_redirect(client, site, "GET")
    assert status in {301, 308}
    assert location == site.url("/health")


def test_http_redirect_keeps_the_method(client: testinfra.host.Host, site: Site) -> None:
    """A POST must not turn into a GET on the way to HTTPS: 308, not 301."""
    assert http_redirect(client, site, "POST") == (308, site.url("/health"))


def test_hsts_header_is_sent(https_get: Callable[..., Response]) -> None:
    assert "max-age=" in https_get("/health").headers["strict-transport-security"]
