"""Only the proxy is reachable: 80 and 443 on the server, nothing else new, never the app."""

from __future__ import annotations

import json

import pytest
import testinfra
from conftest import Site, answers_from_outside

testinfra_hosts = ["ansible://fastapi_servers"]

APP_PORT = 8000


@pytest.mark.parametrize("port", [80, 443])
def test_proxy_listens_on_port(host: testinfra.host.Host, port: int) -> None:
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_nothing_else_listens_beyond_loopback(host: testinfra.host.Host) -> None:
    """Beyond SSH and the proxy, nothing; loopback listeners (containerd's stream server,
    Docker's embedded DNS) are unreachable."""
    listeners = {
        tuple(socket.removeprefix("tcp://").rsplit(":", 1))
        for socket in host.socket.get_listening_sockets()
        if socket.startswith("tcp://")
    }
    exposed = {int(port) for address, port in listeners if not address.startswith("127.")}
    assert exposed == {22, 80, 443}


@pytest.mark.parametrize("port", [80, 443])
def test_proxy_port_answers_from_outside(
    client: testinfra.host.Host, site: Site, port: int
) -> None:
    assert answers_from_outside(client, site, port)


def test_app_port_is_unreachable_from_outside(client: testinfra.host.Host, site: Site) -> None:
    assert not answers_from_outside(client, site, APP_PORT)


def test_app_container_publishes_no_port(host: testinfra.host.Host, app_container: str) -> None:
    ports = json.loads(
        host.check_output(
            f"docker inspect --format '{{{{json .NetworkSettings.Ports}}}}' {app_container}"
        )
    )
    assert all(bindings is None for bindings in (ports or {}).values())
