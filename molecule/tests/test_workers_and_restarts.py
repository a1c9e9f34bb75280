"""The app runs its workers and comes back by itself from crashes and restarts.

These tests disrupt the server, so each one waits until the site is served again before it
ends: the next test starts from a healthy server.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest
import testinfra
from conftest import Site, live_release, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

# Kills of the main process in a row; the median time until the site is served again, and the
# most any one kill may take. On a quiet machine, kills spaced past Docker's restart back-off, a
# kill is served again in about 1.2 s on either engine (`make bench`). Here the kills follow each
# other (the back-off doubles) beside the other scenario on 2 busy cores, where the app's own
# start takes seconds: medians of 1.4 s (Caddy) and 3.3 to 5.9 s (Traefik, which answers 502
# until the app is back where Caddy holds the request) were measured, the slowest kill 6.8 s.
CRASHES = 3
RECOVERY_MEDIAN_LIMIT_SECONDS = 8
RECOVERY_LIMIT_SECONDS = 15


def app_processes(host: testinfra.host.Host) -> list[tuple[int, int, str]]:
    """(pid, ppid, command) of the app container's processes, as the server sees them."""
    rows = host.check_output(f"docker top {live(host)} -o pid,ppid,args").splitlines()[1:]
    return [(int(pid), int(ppid), args) for pid, ppid, args in (row.split(None, 2) for row in rows)]


def live(host: testinfra.host.Host) -> str:
    return live_release(host)["live"]


def main_pid(host: testinfra.host.Host) -> int:
    return int(host.check_output(f"docker inspect --format '{{{{.State.Pid}}}}' {live(host)}"))


def worker_pids(host: testinfra.host.Host) -> list[int]:
    master = main_pid(host)
    return [pid for pid, ppid, args in app_processes(host) if ppid == master and "spawn" in args]


def restart_count(host: testinfra.host.Host) -> int:
    return int(host.check_output(f"docker inspect --format '{{{{.RestartCount}}}}' {live(host)}"))


def test_configured_number_of_workers_run(host: testinfra.host.Host, site: Site) -> None:
    assert len(worker_pids(host)) == site.workers


def test_app_runs_multi_worker_uvicorn(host: testinfra.host.Host, site: Site) -> None:
    command = host.check_output(f"docker inspect --format '{{{{json .Config.Cmd}}}}' {live(host)}")
    assert "uvicorn" in command
    assert f'"--workers","{site.workers}"' in command.replace(" ", "")


def test_a_killed_worker_is_replaced(host: testinfra.host.Host, site: Site) -> None:
    victim = worker_pids(host)[0]
    host.check_output(f"kill -9 {victim}")
    wait_until(
        lambda: victim not in worker_pids(host) and len(worker_pids(host)) == site.workers, 30
    )


def test_app_comes_back_each_time_its_main_process_is_killed(
    host: testinfra.host.Host, served: Callable[[], bool]
) -> None:
    """kill -9 of uvicorn's master, not `docker kill` (which Docker treats as a manual stop),
    several times in a row; prints the time from each kill to the first 200 through the proxy."""
    recoveries = []
    for _ in range(CRASHES):
        restarts = restart_count(host)
        host.check_output(f"kill -9 {main_pid(host)}")
        recoveries.append(wait_until(served, 60, interval=0.1))
        assert restart_count(host) > restarts
    print(f"crash recovery (kill -9 -> 200 through the proxy), s: {recoveries}")
    assert statistics.median(recoveries) <= RECOVERY_MEDIAN_LIMIT_SECONDS, recoveries
    assert max(recoveries) <= RECOVERY_LIMIT_SECONDS, recoveries


# (what is restarted, seconds until the site is served again)
RESTARTS = {
    "proxy container": ("docker restart proxy", 60),
    "Docker engine": ("systemctl restart docker", 90),
    # Docker keeps a container stopped by hand down; the single way in must come back anyway.
    "proxy killed by hand, then the Docker engine": (
        "docker kill proxy && systemctl restart docker",
        90,
    ),
}


@pytest.mark.parametrize(("command", "timeout"), RESTARTS.values(), ids=RESTARTS.keys())
def test_restart_brings_everything_back_with_the_same_certificate(
    host: testinfra.host.Host,
    served: Callable[[], bool],
    served_certificate_serial: Callable[[], str],
    command: str,
    timeout: float,
) -> None:
    before = served_certificate_serial()
    host.check_output(command)
    wait_until(served, timeout)
    assert host.service("docker").is_running
    assert served_certificate_serial() == before


def test_containers_restart_on_failure_and_on_boot(host: testinfra.host.Host) -> None:
    for container in (live(host), "proxy"):
        policy = host.check_output(
            f"docker inspect --format '{{{{.HostConfig.RestartPolicy.Name}}}}' {container}"
        )
        assert policy in {"always", "unless-stopped"}, container


def test_docker_starts_on_boot(host: testinfra.host.Host) -> None:
    assert host.service("docker").is_enabled
