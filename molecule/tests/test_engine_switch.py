"""Switching the proxy engine on a converged server is one run of site.yml and leaves nothing
of the old engine behind; no visitor is given a certificate that does not verify, or none,
beyond Traefik's own start: the new engine obtains its certificates while the old one serves.
The test switches to the other
engine and back, so the server ends as the scenario made it; the switch to the other engine
starts with none of that engine's certificates on the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import testinfra
from conftest import Site, converge_site, load_through_proxy

from harness.common import wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

ENGINES = ("caddy", "traefik")
# What a visitor may meet while the container changes: a connection refused or cut before the
# TLS handshake ends. A handshake that completes with a certificate that does not verify
# (SSLCertVerificationError), or is refused for want of one (SSLError), is what may not happen,
# with one exception that is Traefik's own: from the moment it listens until it has loaded the
# certificates it keeps (a fraction of a second), it hands out its self-signed default one
# (traefik/traefik#7869; Caddy loads them before it listens). Those handshakes must fall within
# that start, never over the time an ACME order takes (about 50 s when the new engine had to
# get its certificates while holding the ports).
CERTIFICATE_ERRORS = {"SSLCertVerificationError", "SSLError"}
TRAEFIK_START_WINDOW = 3.0
# Where each engine keeps its certificates on the proxy's data volume.
CERTIFICATE_FILES = {"caddy": "caddy/certificates", "traefik": "acme-*.json"}


def publishers_of(host: testinfra.host.Host, port: int) -> list[str]:
    return host.check_output(f"docker ps --filter publish={port} --format '{{{{.Names}}}}'").split()


def proxy_image(host: testinfra.host.Host) -> str:
    return host.check_output("docker inspect --format '{{.Config.Image}}' proxy")


@pytest.fixture(scope="module")
def engines(inventory_vars: dict[str, Any]) -> tuple[str, str]:
    """(the scenario's engine, the other one)."""
    current = inventory_vars.get("proxy_engine", "caddy")
    return current, next(engine for engine in ENGINES if engine != current)


@pytest.mark.parametrize("step", ["switch", "switch back"])
def test_engine_switch_serves_no_invalid_certificate_beyond_the_new_engines_start(
    host: testinfra.host.Host,
    served: Callable[[], bool],
    engines: tuple[str, str],
    inventory_vars: dict[str, Any],
    site: Site,
    pebble_root: str,
    step: str,
) -> None:
    target = engines[1] if step == "switch" else engines[0]
    if step == "switch":
        volume = host.check_output("docker volume inspect --format '{{.Mountpoint}}' proxy_data")
        host.check_output(f"rm -rf {volume}/{CERTIFICATE_FILES[target]}")
    # Each visitor's request a new connection: a new handshake, verified against Pebble's root.
    with load_through_proxy(site, pebble_root, clients="fresh=2") as load:
        converge_site({"proxy_engine": target})
    print(f"switch to {target}, the clients' failures by error: {load.report['failed_by_error']}")
    assert load.report["ok"] > 0, load.summary()
    spans = {
        error: last - first
        for error, (first, last) in load.report["error_spans"].items()
        if error in CERTIFICATE_ERRORS
    }
    # Neither engine refuses a handshake for want of a certificate.
    assert "SSLError" not in spans, load.summary()
    if target == "traefik":
        assert spans.get("SSLCertVerificationError", 0) <= TRAEFIK_START_WINDOW, load.summary()
    else:
        assert spans == {}, load.summary()
    wait_until(served, 60)
    image_names = {
        "caddy": inventory_vars["proxy_caddy_image"],
        "traefik": inventory_vars["proxy_traefik_image"],
    }
    assert proxy_image(host) == image_names[target]
    assert publishers_of(host, 443) == ["proxy"]
    assert publishers_of(host, 80) == ["proxy"]
    for engine in ENGINES:
        assert host.file(f"/etc/fastapi-proxy/{engine}").exists == (engine == target)
