"""Only SSH, HTTP and HTTPS reach the server from outside, published container ports included,
and the rules hold across a Docker restart."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra
from conftest import (
    Site,
    answers_at,
    answers_from_outside,
    answers_locally,
    host_listener,
    live_release,
    scenario_name,
)

from harness.common import role_defaults, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

HOST_PROBE_PORT = 9090
PUBLISHED_PROBE_PORT = 9091


@pytest.fixture(scope="module")
def listener_on_host(host: testinfra.host.Host) -> Iterator[int]:
    with host_listener(host, HOST_PROBE_PORT, "fw-probe-host") as port:
        yield port


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
    client: testinfra.host.Host, site: Site, listener_on_host: int
) -> None:
    assert not answers_from_outside(client, site, listener_on_host)


def test_published_container_port_is_blocked(
    client: testinfra.host.Host, site: Site, published_container: int
) -> None:
    assert not answers_from_outside(client, site, published_container)


@pytest.fixture
def route_into_the_proxy_network(
    client: testinfra.host.Host, site: Site, inventory_vars: dict[str, Any]
) -> Iterator[str]:
    """The client routes the proxy network's subnet through the server, as a neighbour on the
    server's network could; yields the proxy container's own address. (The client image has no
    ip tool: this machine changes the client's routes from outside its network namespace.)"""
    if scenario_name() == "vm":
        pytest.skip("QEMU's user networking gives the client no route into the VM's networks")
    defaults = role_defaults("proxy")
    subnet = inventory_vars.get("proxy_network_subnet", defaults["proxy_network_subnet"])
    pid = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Pid}}", f"fd-{scenario_name()}-client"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    route = ["route", "add", subnet, "via", site.server_address]
    subprocess.run(["nsenter", "-t", pid, "-n", "ip", *route], check=True)
    yield inventory_vars.get("proxy_network_address", defaults["proxy_network_address"])
    subprocess.run(["nsenter", "-t", pid, "-n", "ip", "route", "del", subnet], check=True)


def test_proxy_answers_only_through_the_published_ports(
    client: testinfra.host.Host, site: Site, route_into_the_proxy_network: str
) -> None:
    """Only what Docker translated from a published port passes: the proxy's own address on
    the same port does not answer a neighbour who routes to it."""
    assert not answers_at(client, route_into_the_proxy_network, 443, site.domain)


def connection_outcome(client: testinfra.host.Host, address: str, port: int) -> str:
    """What a visitor's connection meets: accepted, refused (reset) or no answer."""
    probe = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('{address}', {port}), timeout=5); print('accepted')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except TimeoutError: print('no answer')"
    )
    return client.check_output(f'python3 -c "{probe}"')


def test_web_port_without_its_proxy_is_refused_not_dropped(
    host: testinfra.host.Host, client: testinfra.host.Host, site: Site, served: Callable[[], bool]
) -> None:
    """While no container serves 443, the server resets the connection: visitors and the
    preflight see a server with nothing listening yet, not a firewall in the way."""
    if scenario_name() == "vm":
        pytest.skip("QEMU's port forward accepts every connection itself")
    host.check_output("docker stop proxy")
    try:
        outcome = connection_outcome(client, site.server_address, 443)
    finally:
        host.check_output("docker start proxy")
        wait_until(served, 60)
    assert outcome == "refused"


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
