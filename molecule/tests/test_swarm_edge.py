"""The swarm's edge gets its certificate from the ACME CA and renews it by itself, and no request
fails while it does.

Only the swarm scenario runs this module (conftest: `runs_here`). Its Pebble issues 90-second
certificates (molecule/swarm/molecule.yml) and the edge checks every 5 s (its host_vars): Caddy
renews each certificate with a third of its lifetime left, so a renewed one is served about a
minute after the one before, the CA unchanged.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
import testinfra
from conftest import (
    Site,
    assert_every_client_served,
    load_through_proxy,
    verified_certificate,
)

from harness.common import wait_until

testinfra_hosts = ["ansible://swarm_edge"]

# A certificate lives 90 s and is renewed with 30 s left, at the next 5-s check: within 65 s of
# any moment a renewed one is due; the rest is the issuance on a loaded machine.
RENEWAL_WINDOW_SECONDS = 120
# The load goes on after the renewed certificate is first served: every kind of client (the
# 5-s long request among them) is answered on connections that handshake it.
SERVED_AFTER_RENEWAL_SECONDS = 10


def served(client: testinfra.host.Host, site: Site, cafile: str) -> dict[str, str]:
    """The serial and notBefore of the certificate served, if it verifies against cafile (an
    empty mapping otherwise)."""
    found = verified_certificate(client, site, cafile, "-serial", "-startdate")
    return dict(line.split("=", 1) for line in found.splitlines())


def not_before(certificate: dict[str, str]) -> datetime:
    return datetime.strptime(certificate["notBefore"], "%b %d %H:%M:%S %Y %Z")


def test_the_edge_serves_a_certificate_of_the_scenarios_ca_for_the_sites_domain(
    client: testinfra.host.Host, site: Site, pebble_root: str
) -> None:
    """A verified handshake from the client: the chain ends at the scenario's Pebble root, and
    the certificate names the domain and is in date."""
    found = verified_certificate(
        client, site, pebble_root, "-issuer", "-ext", "subjectAltName", "-checkend", "0"
    )
    assert f"DNS:{site.domain}" in found, found
    assert "Pebble" in found, found
    assert "Certificate will not expire" in found, found


@pytest.fixture(scope="module")
def renewal_under_load(client: testinfra.host.Host, site: Site, pebble_root: str) -> dict[str, Any]:
    """The certificate served first and the renewed one served after it, seen from the client
    while a load runs (a new connection every 20 requests, so renewed certificates are
    handshaken and verified as they are swapped in)."""
    first = served(client, site, pebble_root)
    assert first, "no certificate that verifies against the scenario's Pebble is served"
    started = time.monotonic()
    with load_through_proxy(
        site, pebble_root, limit=RENEWAL_WINDOW_SECONDS + 60, max_per_connection=20
    ) as load:
        wait_until(
            lambda: (
                served(client, site, pebble_root).get("serial", first["serial"]) != first["serial"]
            ),
            RENEWAL_WINDOW_SECONDS,
            interval=1,
        )
        renewed_after = time.monotonic() - started
        time.sleep(SERVED_AFTER_RENEWAL_SECONDS)
        renewed = served(client, site, pebble_root)
    print(f"renewal at the edge after {renewed_after:.0f} s, under load: {load.summary()}")
    return {"first": first, "renewed": renewed, "load": load}


def test_the_edge_serves_a_renewed_certificate_within_the_window(
    renewal_under_load: dict[str, Any],
) -> None:
    first, renewed = renewal_under_load["first"], renewal_under_load["renewed"]
    assert renewed, "the renewed certificate no longer verifies"
    assert renewed["serial"] != first["serial"], (first, renewed)
    assert not_before(renewed) > not_before(first), (first, renewed)


def test_no_request_fails_while_the_edge_renews(renewal_under_load: dict[str, Any]) -> None:
    assert_every_client_served(renewal_under_load["load"])
