"""Switching the proxy engine on a converged server is one run of site.yml and leaves nothing
of the old engine behind; the site keeps a valid certificate. The test switches to the other
engine and back, so the server ends as the scenario made it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import testinfra
from conftest import converge_site

from harness.common import wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

ENGINES = ("caddy", "traefik")


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
def test_engine_switch_keeps_serving_with_a_valid_certificate(
    host: testinfra.host.Host,
    served: Callable[[], bool],
    engines: tuple[str, str],
    inventory_vars: dict[str, Any],
    step: str,
) -> None:
    target = engines[1] if step == "switch" else engines[0]
    converge_site({"proxy_engine": target})
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
