"""Switching the proxy engine on a converged server is one run of site.yml, leaves nothing of
the old engine behind, and fails no visitor's request: the new engine obtains its certificates
while the old one serves, and from the old engine's stop until the new one serves them, new
connections wait at the firewall (their first packet dropped, then sent again by the client)
instead of being refused or given the new engine's default certificate. The test switches to
the other engine and back, so the server ends as the scenario made it; the switch to the other
engine starts with none of that engine's certificates on the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import testinfra
from conftest import Site, assert_every_client_served, converge_site, load_through_proxy

from harness.common import wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

ENGINES = ("caddy", "traefik")
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
def test_engine_switch_fails_no_request_of_clients_opening_new_connections(
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
    hold = host.file("/run/fastapi-proxy-engine-switch").content_string.strip()
    print(f"switch to {target}: {load.summary()}; hold {hold}")
    assert_every_client_served(load)
    # Let in by the new engine serving its certificates, not by the hold's expiry.
    assert hold.startswith("released after"), hold
    # Released: nothing of the hold is left in the firewall.
    assert "engine-switch-hold" not in host.check_output("iptables -S; ip6tables -S")
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
