"""Redis beside the app (roles/redis), the queue of its background work: it restarts after a
crash, keeps what it was given across a restart (append-only file), answers only with the
password, stays below its memory limit without evicting jobs, and is reached only on its
internal network. The password appears in no command line and no environment."""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import testinfra

from harness.common import role_defaults, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

NOAUTH = "NOAUTH"


@pytest.fixture(scope="module", autouse=True)
def only_with_redis(inventory_vars: dict[str, Any]) -> None:
    if not inventory_vars.get("redis_enabled"):
        pytest.fail("this scenario's inventory has no Redis (redis_enabled), yet runs test_redis")


@pytest.fixture(scope="module")
def redis(inventory_vars: dict[str, Any]) -> dict[str, Any]:
    """The role's settings as the inventory gives them over the role's defaults: the container
    (also the name of its volume's and network's defaults), the password, memory and policy."""
    settings = {**role_defaults("redis"), **inventory_vars}
    name = str(settings["redis_name"])
    return {
        "container": name,
        "network": str(inventory_vars.get("redis_network", name)),
        "volume": str(inventory_vars.get("redis_volume", f"{name}-data")),
        "password": str(settings["redis_password"]),
        "memory_limit": str(settings["redis_memory_limit"]),
        "policy": str(settings["redis_maxmemory_policy"]),
    }


def inspect(host: testinfra.host.Host, container: str) -> dict[str, Any]:
    return json.loads(host.check_output(f"docker inspect {container}"))[0]


def cli(host: testinfra.host.Host, redis: dict[str, Any], *args: str, auth: bool = True) -> str:
    """redis-cli in the container; with the password in its environment, passed by name (in no
    command line). redis-cli exits 0 on an error reply too: callers read its output."""
    command = " ".join(shlex.quote(arg) for arg in args)
    if not auth:
        return host.run(f"docker exec {redis['container']} redis-cli {command}").stdout.strip()
    password = shlex.quote(redis["password"])
    return host.check_output(
        f"REDISCLI_AUTH={password} docker exec -e REDISCLI_AUTH {redis['container']} "
        f"redis-cli {command}"
    )


def answers(host: testinfra.host.Host, redis: dict[str, Any]) -> bool:
    return (
        host.run(
            f"REDISCLI_AUTH={shlex.quote(redis['password'])} docker exec -e REDISCLI_AUTH "
            f"{redis['container']} redis-cli ping"
        ).stdout.strip()
        == "PONG"
    )


def info(host: testinfra.host.Host, redis: dict[str, Any], section: str) -> dict[str, str]:
    lines = cli(host, redis, "info", section).splitlines()
    return dict(line.strip().split(":", 1) for line in lines if ":" in line)


def size_in_bytes(size: str) -> int:
    """A Docker size as the role's validation accepts it: digits and b, k, m or g."""
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def test_redis_runs_and_answers_its_health_check(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    # Its first check comes an interval after a start.
    wait_until(
        lambda: inspect(host, redis["container"])["State"]["Health"]["Status"] == "healthy", 40
    )
    assert inspect(host, redis["container"])["State"]["Running"] is True


def test_redis_killed_comes_back(host: testinfra.host.Host, redis: dict[str, Any]) -> None:
    container = host.docker(redis["container"])
    restarts = container.inspect()["RestartCount"]
    host.check_output(f"kill -9 {container.inspect()['State']['Pid']}")
    wait_until(lambda: container.inspect()["RestartCount"] > restarts, 30)
    wait_until(lambda: answers(host, redis), 60)


def test_redis_refuses_commands_without_the_password(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    assert NOAUTH in cli(host, redis, "ping", auth=False)
    assert NOAUTH in cli(host, redis, "set", "unauthenticated", "value", auth=False)


def test_redis_answers_with_the_password(host: testinfra.host.Host, redis: dict[str, Any]) -> None:
    assert cli(host, redis, "ping") == "PONG"


def assert_a_job_survives(
    host: testinfra.host.Host, redis: dict[str, Any], disrupt: Callable[[], object]
) -> None:
    """A job pushed before `disrupt` is still queued once Redis answers again."""
    key, value = f"test:job:{uuid.uuid4().hex}", uuid.uuid4().hex
    cli(host, redis, "rpush", key, value)
    disrupt()
    wait_until(lambda: answers(host, redis), 60)
    assert cli(host, redis, "lrange", key, "0", "-1") == value
    cli(host, redis, "del", key)


def test_a_job_survives_a_restart_of_the_container(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    assert_a_job_survives(
        host, redis, lambda: host.check_output(f"docker restart {redis['container']}")
    )


def test_a_job_survives_a_crash_of_the_container(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    """Killed without a chance to save: only the append-only file (flushed each second) has it."""
    container = host.docker(redis["container"])

    def crash() -> None:
        time.sleep(2)
        restarts = container.inspect()["RestartCount"]
        host.check_output(f"kill -9 {container.inspect()['State']['Pid']}")
        wait_until(lambda: container.inspect()["RestartCount"] > restarts, 30)

    assert_a_job_survives(host, redis, crash)


def test_the_append_only_file_is_on_the_volume(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    mountpoint = host.check_output(
        f"docker volume inspect --format '{{{{ .Mountpoint }}}}' {redis['volume']}"
    )
    assert info(host, redis, "persistence")["aof_enabled"] == "1"
    assert host.file(f"{mountpoint}/appendonlydir").is_directory
    assert host.run(f"ls {mountpoint}/appendonlydir/*.manifest").rc == 0


def test_memory_is_limited_and_maxmemory_is_below_the_limit(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    limits = inspect(host, redis["container"])["HostConfig"]
    limit = size_in_bytes(redis["memory_limit"])
    assert limits["Memory"] == limits["MemorySwap"] == limit
    assert 0 < int(info(host, redis, "memory")["maxmemory"]) < limit


def test_maxmemory_policy_is_the_inventorys(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    assert info(host, redis, "memory")["maxmemory_policy"] == redis["policy"]


def test_redis_port_is_published_nowhere(host: testinfra.host.Host, redis: dict[str, Any]) -> None:
    assert inspect(host, redis["container"])["HostConfig"]["PortBindings"] in ({}, None)


def test_redis_is_only_on_its_internal_network(
    host: testinfra.host.Host, redis: dict[str, Any], inventory_vars: dict[str, Any]
) -> None:
    attrs = inspect(host, redis["container"])
    assert list(attrs["NetworkSettings"]["Networks"]) == [redis["network"]]
    network = json.loads(host.check_output(f"docker network inspect {redis['network']}"))[0]
    members = {member["Name"] for member in network["Containers"].values()}
    assert network["Internal"] is True
    assert str(inventory_vars.get("proxy_container_name", "proxy")) not in members


def test_redis_runs_unprivileged(host: testinfra.host.Host, redis: dict[str, Any]) -> None:
    attrs = inspect(host, redis["container"])
    assert attrs["Config"]["User"] not in ("", "0", "root")
    assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert not attrs["HostConfig"]["CapAdd"]
    assert "no-new-privileges" in (attrs["HostConfig"]["SecurityOpt"] or [])
    assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert attrs["HostConfig"]["PidsLimit"] > 0


def test_the_password_is_in_no_command_line_or_environment(
    host: testinfra.host.Host, redis: dict[str, Any]
) -> None:
    assert redis["password"] not in host.check_output(f"docker inspect {redis['container']}")
    assert redis["password"] not in host.check_output("ps -eo args")
