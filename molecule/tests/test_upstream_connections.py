"""The proxy reuses its connections to the app, and lets an idle one go before the app would
close it: a request sent on a connection the app is closing would get a 502 (a GET is retried by
the proxy, a POST is not)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
import testinfra
from conftest import Response, Site, scenario_name

testinfra_hosts = ["ansible://fastapi_servers"]

APP_PORT = 8000
# uvicorn closes a keep-alive connection idle for this long (its --timeout-keep-alive default).
APP_KEEP_ALIVE_S = 5.0
# Past the proxy's idle timeout (proxy_upstream_idle_timeout: 4 s), before the app's.
IDLE_S = 4.4
TCP_ESTABLISHED = "01"
TCP_TIME_WAIT = "06"
# Concurrent clients and requests of the burst below: more than Go's default of two idle
# connections per host, which a Traefik transport declared without maxIdleConnsPerHost gets.
BURST_CLIENTS = 16
BURST_REQUESTS = 128


def hex_address(address: str) -> str:
    """An IPv4 address as /proc/net/tcp writes it (little-endian hex)."""
    return "".join(f"{int(part):02X}" for part in reversed(address.split(".")))


@pytest.fixture
def proxy_address(host: testinfra.host.Host) -> str:
    return host.check_output(
        "docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' proxy"
    )


@pytest.fixture
def connections_from_proxy(app_container: str, proxy_address: str) -> Callable[[], int]:
    """Established TCP connections from the proxy to the live release, from its own table."""
    local_port = f":{APP_PORT:04X}"
    remote = f"{hex_address(proxy_address)}:"

    def count() -> int:
        # Straight through this machine's Docker into the server container (the container
        # scenarios': tenths of a second, where a task through Ansible takes a second or more
        # on a busy machine; the window between the two timeouts is one second).
        table = subprocess.run(
            ["docker", "exec", f"fd-{scenario_name()}-server", "docker", "exec", app_container,
             "cat", "/proc/net/tcp"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        rows = [line.split() for line in table.splitlines()[1:]]
        return sum(
            1
            for row in rows
            if row[1].endswith(local_port)
            and row[2].startswith(remote)
            and row[3] == TCP_ESTABLISHED
        )

    return count


def test_proxy_keeps_connections_to_the_app_open_between_requests(
    https_get: Callable[..., Response], connections_from_proxy: Callable[[], int]
) -> None:
    assert https_get("/health").status == 200
    assert connections_from_proxy() >= 1


def test_proxy_lets_idle_connections_go_before_the_app_closes_them(
    https_get: Callable[..., Response], connections_from_proxy: Callable[[], int]
) -> None:
    assert https_get("/health").status == 200
    answered = time.monotonic()
    time.sleep(IDLE_S)
    open_connections = connections_from_proxy()
    idle_for = time.monotonic() - answered
    assert idle_for < APP_KEEP_ALIVE_S, f"checked too late ({idle_for:.1f} s) to tell"
    assert open_connections == 0


@pytest.fixture
def closed_by_proxy(host: testinfra.host.Host) -> Callable[[], int]:
    """Connections to the app's port that the proxy closed in the last minute (TIME_WAIT rows
    of its own table: the side that closes keeps them)."""
    remote_port = f":{APP_PORT:04X}"

    def count() -> int:
        table = host.check_output("docker exec proxy cat /proc/net/tcp")
        rows = [line.split() for line in table.splitlines()[1:]]
        return sum(1 for row in rows if row[2].endswith(remote_port) and row[3] == TCP_TIME_WAIT)

    return count


def test_proxy_reuses_connections_to_the_app_under_concurrent_requests(
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    closed_by_proxy: Callable[[], int],
) -> None:
    """A burst from many clients at once is served over a pool of kept connections: closing
    one after nearly every request costs the proxy and the app CPU (issue 22: Traefik's
    transport kept two)."""
    before = closed_by_proxy()
    urls = " ".join([f"'{site.url('/health')}'"] * BURST_REQUESTS)
    client.check_output(
        f"curl -sS -o /dev/null --parallel --parallel-max {BURST_CLIENTS} --max-time 60 "
        f"--cacert {pebble_root} {urls}"
    )
    closed = closed_by_proxy() - before
    assert closed <= BURST_CLIENTS, f"{closed} connections to the app closed during the burst"
