"""Maintenance mode, turned on and off with playbooks/maintenance.yml as an operator does: clients
get 503 with Retry-After (and, with Caddy, the maintenance page) while the operator's check path
still reaches the app; off restores normal answers. Neither switch fails a request or closes a
client's connection: with Caddy, maintenance is a file Caddy looks for at each request, so
turning it on or off reloads nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra
from conftest import (
    Response,
    Site,
    assert_every_client_served,
    load_through_proxy,
    run_playbook,
)

from harness.common import MAINTENANCE_PLAYBOOK, role_defaults

testinfra_hosts = ["ansible://fastapi_servers"]

RETRY_AFTER = str(role_defaults("proxy")["proxy_maintenance_retry_after"])
# An operator's clients, on the check path that maintenance leaves to them: keep-alive GETs
# (a reload would close their idle connections) and a new connection per GET.
OPERATOR_CLIENTS = "keepalive=2,fresh=1"
MAINTENANCE_STATE_FILE = role_defaults("proxy")["proxy_maintenance_state_file"].replace(
    "{{ proxy_config_dir }}", role_defaults("proxy")["proxy_config_dir"]
)


def maintenance(on: bool, **extra_vars: object) -> None:
    result = run_playbook(MAINTENANCE_PLAYBOOK, {"proxy_maintenance": on, **extra_vars})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.fixture(scope="module", autouse=True)
def out_of_maintenance_at_the_end() -> Iterator[None]:
    yield
    maintenance(False)


def test_maintenance_answers_503_with_retry_after_while_the_operator_still_reaches_the_app(
    site: Site,
    pebble_root: str,
    client_address: str,
    https_get: Callable[..., Response],
    inventory_vars: dict[str, Any],
) -> None:
    operator = {"proxy_maintenance_operator_ips": [f"{client_address}/32"]}
    # The operator's network set first, as an inventory would have it (a configuration change).
    maintenance(False, **operator)
    with load_through_proxy(site, pebble_root, clients=OPERATOR_CLIENTS) as load:
        maintenance(True, **operator)
        answer = https_get("/")
        health = https_get("/health")
    print(f"health checks by an operator while maintenance went on: {load.summary()}")
    assert answer.status == 503
    assert answer.headers["retry-after"] == RETRY_AFTER
    assert "server" not in answer.headers
    if inventory_vars.get("proxy_engine", "caddy") == "caddy":  # Traefik: its own plain 503
        assert answer.headers["content-type"].startswith("text/html")
        assert "Down for maintenance" in answer.body
    assert health.status == 200
    assert_every_client_served(load)


def test_maintenance_off_restores_the_app_with_no_failed_request(
    host: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    client_address: str,
    https_get: Callable[..., Response],
) -> None:
    operator = {"proxy_maintenance_operator_ips": [f"{client_address}/32"]}
    if not host.file(MAINTENANCE_STATE_FILE).exists:  # alone, not after the test above
        maintenance(True, **operator)
    with load_through_proxy(site, pebble_root, clients=OPERATOR_CLIENTS) as load:
        maintenance(False, **operator)
    print(f"health checks while maintenance went off: {load.summary()}")
    assert https_get("/").status == 200
    assert_every_client_served(load)


def test_in_maintenance_the_check_path_is_closed_to_other_clients(
    https_get: Callable[..., Response],
) -> None:
    maintenance(True)
    assert https_get("/health").status == 503
