"""Waits until a release container answers its health check, and gives up at once when the
container exits or restarts (a release that cannot start fails the deploy in seconds, not after
the whole health timeout)."""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: release_health
short_description: Wait for a release container's health answer; fail fast when it exits
description:
  - Polls the container's state through the Docker API socket and its health path over HTTP on
    its address on the given network, until the path answers 200.
  - Fails as soon as the container is no longer running or Docker has restarted it, with its
    exit code, instead of waiting for the timeout.
options:
  container:
    description: Name of the release container.
    type: str
    required: true
  network:
    description: Docker network on which the container is asked (the proxy's).
    type: str
    required: true
  port:
    description: Port the app listens on inside the container.
    type: int
    required: true
  path:
    description: Health path, answering 200 when the app is ready.
    type: str
    default: /health
  timeout:
    description: Seconds to wait before failing.
    type: float
    default: 60
  interval:
    description: Seconds between two questions.
    type: float
    default: 0.5
  docker_socket:
    description: Path of the Docker API socket.
    type: path
    default: /var/run/docker.sock
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Wait until the new release answers its health check
  fastapi_deploy.toolkit.release_health:
    container: app-1a2b3c-5d6e7f80
    network: edge
    port: 8000
    path: /health
    timeout: 60
"""

RETURN = r"""
address:
  description: The container's address on the network.
  returned: success
  type: str
status:
  description: The last HTTP status of the health path (-1 when it did not answer).
  returned: always
  type: int
elapsed:
  description: Seconds waited.
  returned: always
  type: float
"""

WAITING = "waiting"
HEALTHY = "healthy"
GONE = "gone"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the Docker API's Unix socket."""

    def __init__(self, socket_path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.socket_path)


def inspect(socket_path: str, container: str) -> dict[str, Any] | None:
    connection = UnixHTTPConnection(socket_path)
    try:
        connection.request("GET", f"/containers/{container}/json")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status == 404:
        return None
    if response.status != 200:
        raise RuntimeError(f"Docker API answered {response.status}: {body[:200]!r}")
    return json.loads(body)


def health_status(address: str, port: int, path: str) -> int:
    connection = http.client.HTTPConnection(address, port, timeout=3)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return -1
    finally:
        connection.close()


def verdict(state: dict[str, Any] | None, status: int, restarted: bool = False) -> str:
    """Healthy once the path answers 200; gone once the container stopped, or Docker restarted
    it while we waited (restarts before the wait began, a crash test's say, do not count)."""
    if state is None or state.get("Status") != "running" or state.get("Restarting") or restarted:
        return GONE
    return HEALTHY if status == 200 else WAITING


class RestartWatch:
    """Docker's restarts of the container from the first look on: earlier ones (a crash test's,
    or a real crash long ago) say nothing about the release now."""

    def __init__(self) -> None:
        self.first: int | None = None

    def restarted(self, count: int) -> bool:
        if self.first is None:
            self.first = count
        return count > self.first


def describe(info: dict[str, Any] | None) -> str:
    if info is None:
        return "does not exist"
    state = info.get("State") or {}
    return (
        f"stopped (state {state.get('Status')}, exit code {state.get('ExitCode')}, "
        f"restarts {info.get('RestartCount', 0)})"
    )


def run(module: AnsibleModule) -> None:
    params = module.params
    started = time.monotonic()
    status, address = -1, ""
    watch = RestartWatch()
    while True:
        info = inspect(params["docker_socket"], params["container"])
        if info is None and module.check_mode:
            module.exit_json(
                changed=False,
                status=status,
                elapsed=0.0,
                msg="check mode: the release container does not exist yet",
            )
        # A kept release that a real run would start again (a tag moved back to its image, a
        # source back to its state): a dry run started nothing, so there is nothing to ask.
        if module.check_mode and not ((info or {}).get("State") or {}).get("Running"):
            module.exit_json(
                changed=False,
                status=status,
                elapsed=0.0,
                msg="check mode: the release container is not running; a real run starts it",
            )
        networks = (info or {}).get("NetworkSettings", {}).get("Networks") or {}
        address = (networks.get(params["network"]) or {}).get("IPAddress", "")
        state = (info or {}).get("State")
        restarted = watch.restarted(int((info or {}).get("RestartCount") or 0))
        if address and verdict(state, -1, restarted) != GONE:
            status = health_status(address, params["port"], params["path"])
        outcome = verdict(state, status, restarted)
        elapsed = round(time.monotonic() - started, 1)
        if outcome == HEALTHY:
            module.exit_json(changed=False, address=address, status=status, elapsed=elapsed)
        if outcome == GONE:
            module.fail_json(
                msg=f"release container {params['container']} {describe(info)} after "
                f"{elapsed} s, before answering 200 on {params['path']}",
                status=status,
                elapsed=elapsed,
            )
        if elapsed >= params["timeout"]:
            module.fail_json(
                msg=f"release container {params['container']} did not answer 200 on "
                f"{params['path']} within {params['timeout']} s (last answer: {status})",
                status=status,
                elapsed=elapsed,
            )
        time.sleep(params["interval"])


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "network": {"type": "str", "required": True},
            "port": {"type": "int", "required": True},
            "path": {"type": "str", "default": "/health"},
            "timeout": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 0.5},
            "docker_socket": {"type": "path", "default": "/var/run/docker.sock"},
        },
        supports_check_mode=True,
    )
    try:
        run(module)
    except (OSError, RuntimeError, ValueError) as error:
        module.fail_json(msg=f"release_health: {error}")


if __name__ == "__main__":
    main()
