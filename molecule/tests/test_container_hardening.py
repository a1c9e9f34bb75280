"""The app and the proxy run with the least they need."""

from __future__ import annotations

import json
from typing import Any

import pytest
import testinfra

testinfra_hosts = ["ansible://fastapi_servers"]

CONTAINERS = ["app", "proxy"]


@pytest.fixture
def container_named(app_container: str) -> dict[str, str]:
    return {"app": app_container, "proxy": "proxy"}


def inspect(host: testinfra.host.Host, container: str) -> dict[str, Any]:
    return json.loads(host.check_output(f"docker inspect {container}"))[0]


@pytest.mark.parametrize("container", CONTAINERS)
def test_root_filesystem_is_read_only(
    host: testinfra.host.Host, container_named: dict[str, str], container: str
) -> None:
    assert inspect(host, container_named[container])["HostConfig"]["ReadonlyRootfs"] is True


@pytest.mark.parametrize("container", CONTAINERS)
def test_no_new_privileges(
    host: testinfra.host.Host, container_named: dict[str, str], container: str
) -> None:
    assert "no-new-privileges" in (
        inspect(host, container_named[container])["HostConfig"]["SecurityOpt"] or []
    )


@pytest.mark.parametrize("container", CONTAINERS)
def test_all_capabilities_are_dropped(
    host: testinfra.host.Host, container_named: dict[str, str], container: str
) -> None:
    assert inspect(host, container_named[container])["HostConfig"]["CapDrop"] == ["ALL"]


@pytest.mark.parametrize("container", CONTAINERS)
def test_memory_is_limited(
    host: testinfra.host.Host, container_named: dict[str, str], container: str
) -> None:
    assert inspect(host, container_named[container])["HostConfig"]["Memory"] > 0


@pytest.mark.parametrize("container", CONTAINERS)
def test_no_swap_beyond_the_memory_limit(
    host: testinfra.host.Host, container_named: dict[str, str], container: str
) -> None:
    limits = inspect(host, container_named[container])["HostConfig"]
    assert limits["MemorySwap"] == limits["Memory"]


def test_proxy_gets_more_cpu_than_the_app_under_contention(
    host: testinfra.host.Host, app_container: str
) -> None:
    """Docker's default weight is 1024 (shown as 0 when unset)."""
    app_shares = inspect(host, app_container)["HostConfig"]["CpuShares"] or 1024
    assert inspect(host, "proxy")["HostConfig"]["CpuShares"] > app_shares


@pytest.mark.parametrize("container", CONTAINERS)
def test_process_count_is_limited(
    host: testinfra.host.Host, container_named: dict[str, str], container: str
) -> None:
    assert 0 < (inspect(host, container_named[container])["HostConfig"]["PidsLimit"] or 0) <= 1024


def test_proxy_runtime_collects_garbage_before_the_container_limit(
    host: testinfra.host.Host,
) -> None:
    proxy = inspect(host, "proxy")
    env = dict(item.split("=", 1) for item in proxy["Config"]["Env"])
    assert env["GOMEMLIMIT"].endswith("MiB")
    assert 0 < int(env["GOMEMLIMIT"].removesuffix("MiB")) * 2**20 < proxy["HostConfig"]["Memory"]


def test_app_gets_no_capability_back(host: testinfra.host.Host, app_container: str) -> None:
    assert not inspect(host, app_container)["HostConfig"]["CapAdd"]


def test_proxy_gets_no_capability_back(host: testinfra.host.Host) -> None:
    assert not inspect(host, "proxy")["HostConfig"]["CapAdd"]


def test_proxy_runs_as_a_non_root_user(host: testinfra.host.Host) -> None:
    uids = {
        int(row.split()[1])
        for row in host.check_output("docker top proxy -o pid,uid").splitlines()[1:]
    }
    assert uids and 0 not in uids


def test_app_processes_run_as_a_non_root_user(
    host: testinfra.host.Host, app_container: str
) -> None:
    rows = host.check_output(f"docker top {app_container} -o pid,uid").splitlines()[1:]
    users = [row.split()[1] for row in rows]
    assert users
    assert "0" not in users


def test_app_environment_file_is_root_only(host: testinfra.host.Host) -> None:
    env_file = host.file("/etc/fastapi-app/app.env")
    assert (env_file.user, env_file.group, env_file.mode) == ("root", "root", 0o600)
