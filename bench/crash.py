"""Crash recovery: kill -9 of uvicorn's main process -> the first verified 200 through the proxy."""

from __future__ import annotations

import json
import statistics
import time

from bench.common import Json, Settings, live_container, on_server, server_docker
from bench.workers import main_pid
from harness import sandbox
from harness.common import wait_until
from harness.worker_log import docker_time

# Docker resets its restart back-off once a container has run this long; crashes are spaced so.
RESTART_BACKOFF_RESET_S = 10.5


def container_state(container: str) -> Json:
    return json.loads(server_docker("inspect", "--format", "{{json .State}}", container))


def restart_count(container: str) -> int:
    return int(server_docker("inspect", "--format", "{{.RestartCount}}", container))


def let_restart_backoff_reset(container: str) -> None:
    """Docker doubles its restart delay for a container that ran less than 10 s: wait past it."""
    ran = time.time() - docker_time(container_state(container)["StartedAt"])
    if ran < RESTART_BACKOFF_RESET_S:
        time.sleep(RESTART_BACKOFF_RESET_S - ran)


def one_crash(box: sandbox.Sandbox, container: str) -> Json:
    restarts = restart_count(container)
    pid = main_pid(container)
    # The server shares this host's clock: it stamps the moment of the kill itself.
    killed_at = float(on_server("sh", "-c", f"kill -9 {pid} && date +%s.%N").stdout)
    wait_until(lambda: sandbox.served(box), 60, interval=0.05)
    answered_at = time.time()
    started_at = docker_time(container_state(container)["StartedAt"])
    return {
        "seconds": round(answered_at - killed_at, 3),
        "docker_restart_s": round(started_at - killed_at, 3),
        "start_to_200_s": round(answered_at - started_at, 3),
        "restarted_by_docker": restart_count(container) > restarts,
    }


def measure_crash(engine: str, box: sandbox.Sandbox, settings: Settings) -> Json:
    container = live_container()
    samples = []
    for _ in range(settings.crashes):
        wait_until(lambda: sandbox.served(box), 60, interval=0.2)
        let_restart_backoff_reset(container)
        samples.append(one_crash(box, container))
    return {
        "engine": engine,
        "container": container,
        "samples": samples,
        "median_s": round(statistics.median(s["seconds"] for s in samples), 3),
        "max_s": max(s["seconds"] for s in samples),
        "median_restart_s": round(statistics.median(s["docker_restart_s"] for s in samples), 3),
        "median_start_to_200_s": round(statistics.median(s["start_to_200_s"] for s in samples), 3),
    }
