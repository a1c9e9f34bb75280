"""Only SSH, HTTP and HTTPS reach the server from outside, published container ports included,
and the rules hold across a Docker restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra

from conftest import Site, answers_from_outside, live_release, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

HOST_PROBE_PORT = 9090
PUBLISHED_PROBE_PORT = 9091


def answers_locally(host: testinfra.host.Host, port: int) -> bool:
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"
    return host.run(f'python3 -c "{probe}"').rc == 0


@pytest.fixture(scope="module")
def host_listener(host: testinfra.host.Host) -> Iterator[int]:
    """A service of the host itself on a port nobody opened."""
    host.check_output(f"systemd-run --unit fw-probe-host python3 -m http.server {HOST_PROBE_PORT}")
    wait_until(lambda: answers_locally(host, HOST_PROBE_PORT), 15)
    yield HOST_PROBE_PORT
    host.run("systemctl stop fw-probe-host")


@pytest.fixture(scope="module")
def published_container(host: testinfra.host.Host) -> Iterator[int]:
    """A container port published on purpose, as a careless `docker run -p` would."""
    live = live_release(host)["live"]
    image = host.check_output(f"docker inspect --format '{{{{.Config.Image}}}}' {live}")
    host.check_output(f"docker run -d --rm --name fw-probe -p {PUBLISHED_PROBE_PORT}:8000 {image}")
    wait_until(lambda: answers_locally(host, PUBLISHED_PROBE_PORT), 30)
    yield PUBLISHED_PROBE_PORT
    host.run("docker rm -f fw-probe")


@pytest.fixture(scope="module")
def ssh_port(inventory_vars: dict[str, Any]) -> int:
    return int(inventory_vars.get("hardening_ssh_port", 22))


def test_ssh_answers_from_outside(client: testinfra.host.Host, site: Site, ssh_port: int) -> None:
    assert answers_from_outside(client, site, ssh_port)


def test_host_service_on_another_port_is_blocked(
    client: testinfra.host.Host, site: Site, host_listener: int
) -> None:
    assert not answers_from_outside(client, site, host_listener)


def test_published_container_port_is_blocked(
    client: testinfra.host.Host, site: Site, published_container: int
) -> None:
    assert not answers_from_outside(client, site, published_container)


@pytest.fixture
def docker_restarted(host: testinfra.host.Host, served: Callable[[], bool]) -> None:
    host.check_output("systemctl restart docker")
    wait_until(served, 90)


def test_rules_hold_after_docker_restarts(
    docker_restarted: None,
    client: testinfra.host.Host,
    site: Site,
    published_container: int,
) -> None:
    """Docker rebuilds its own chains on start; a port published afterwards is still blocked."""
    assert not answers_from_outside(client, site, published_container)
    assert answers_from_outside(client, site, 443)


def test_rules_are_applied_at_boot(host: testinfra.host.Host) -> None:
    assert host.service("fastapi-firewall").is_enabled
