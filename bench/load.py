"""Load on the sandbox: the bench's clients (one on the sandbox network, its twin inside the
server on the proxy network), wrk's keep-alive runs with the CPU they cost, and
harness/loadgen.py for a verified request-by-request record."""

from __future__ import annotations

import json
import statistics
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bench.common import (
    BENCH_DIR,
    BenchError,
    Settings,
    box,
    live_container,
    log,
    on_server,
    sandbox_exists,
    server_docker,
    site_url,
)
from bench.stats import Spread
from harness import sandbox
from harness.common import LOADGEN, Json, docker, role_defaults, run, wait_until

WRK_SCRIPT = BENCH_DIR / "wrk-report.lua"
CLIENT_IMAGE = "fastapi-deploy/client:latest"
# The bench's client on the sandbox network, and its twin inside the server on the proxy
# network (the app is reachable only there).
CLIENT = "fastapi-sandbox-bench-client"
INNER_CLIENT = "bench-client"
MAX_LOAD_REQUESTS = 300_000


def image_id(where: Callable[..., str]) -> str:
    return where("image", "inspect", "--format", "{{.Id}}", CLIENT_IMAGE)


def load_client_image_into_server() -> None:
    """The server's Docker engine has no registry either: the client image is handed over."""
    try:
        if image_id(server_docker) == image_id(docker):
            return
    except BenchError:
        pass
    log(f"docker save {CLIENT_IMAGE} | docker load, in the server")
    save = subprocess.Popen(["docker", "save", CLIENT_IMAGE], stdout=subprocess.PIPE)
    load = subprocess.run(
        ["docker", "exec", "-i", box().server, "docker", "load"],
        stdin=save.stdout, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    if save.wait(timeout=60) != 0 or load.returncode != 0:
        raise BenchError(f"could not load {CLIENT_IMAGE} into the server: {load.stderr!r}")


def start_clients(box: sandbox.Sandbox) -> None:
    docker("rm", "-f", CLIENT, check=False)
    docker("run", "-d", "--name", CLIENT, "--network", box.network, CLIENT_IMAGE)
    docker("cp", str(LOADGEN), f"{CLIENT}:/tmp/loadgen.py")
    docker("cp", str(WRK_SCRIPT), f"{CLIENT}:/tmp/wrk-report.lua")
    docker("cp", str(sandbox.PEBBLE_ROOT), f"{CLIENT}:/tmp/pebble-root.pem")
    load_client_image_into_server()
    on_server("docker", "rm", "-f", INNER_CLIENT)
    proxy = role_defaults("proxy")
    server_docker(
        "run", "-d", "--name", INNER_CLIENT, "--network", proxy["proxy_network_name"],
        "--add-host", f"{sandbox.site().domain}:{proxy['proxy_network_address']}", CLIENT_IMAGE,
    )  # fmt: skip
    on_server(
        "docker", "exec", "-i", INNER_CLIENT, "sh", "-c", "cat > /tmp/wrk-report.lua",
        stdin=WRK_SCRIPT.read_text(),
    )  # fmt: skip


def stop_clients() -> None:
    docker("rm", "-f", CLIENT, check=False)
    if sandbox_exists():
        run("docker", "exec", box().server, "docker", "rm", "-f", INNER_CLIENT, check=False)


def summarise_wrk(data: Json) -> Json:
    elapsed = data["duration_us"] / 1e6
    latency = data["latency_us"]
    return {
        "requests_per_second": round(data["requests"] / elapsed, 1),
        "p50_ms": round(latency["p50"] / 1000, 2),
        "p99_ms": round(latency["p99"] / 1000, 2),
        "max_ms": round(latency["max"] / 1000, 2),
        "requests": data["requests"],
        "errors": sum(data["errors"].values()),
    }


def parse_wrk(output: str) -> Json:
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return summarise_wrk(json.loads(line.removeprefix("BENCH_JSON ")))
    raise BenchError(f"wrk printed no result: {output[-500:]}")


def wrk(url: str, settings: Settings, inner: bool) -> Json:
    """Keep-alive load for settings.seconds from the inner client (proxy network, inside the
    server) or from the client on the sandbox network."""
    client = (
        ["docker", "exec", box().server, "docker", "exec", INNER_CLIENT]
        if inner
        else ["docker", "exec", CLIENT]
    )
    command = [
        *client, "wrk", "-t", str(settings.threads), "-c", str(settings.connections),
        "-d", f"{settings.seconds}s", "--timeout", "5s", "-s", "/tmp/wrk-report.lua", url,
    ]  # fmt: skip
    before = cpu_used()
    result = parse_wrk(run(*command, timeout=settings.seconds + 60).stdout)
    used = {name: ns - before.get(name, 0) for name, ns in cpu_used().items()}
    result["cpu_percent"] = {
        name: round(ns / 1e9 / settings.seconds * 100, 1) for name, ns in used.items()
    }
    result["cpu_ms_per_request"] = {
        name: round(ns / 1e6 / max(result["requests"], 1), 3) for name, ns in used.items()
    }
    return result


# A container's CPU time in ns, from inside it: its own cgroup (v1 cpuacct, or v2 cpu.stat).
CPU_USAGE_SCRIPT = (
    "f=/sys/fs/cgroup/cpuacct/cpuacct.usage; if [ -r $f ]; then cat $f; else "
    "echo $(( $(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat) * 1000 )); fi"
)


def cpu_used() -> dict[str, int]:
    """CPU time used so far by the app, the proxy and both clients (ns)."""
    inside_server = {"app": live_container(), "proxy": "proxy", "client_in_server": INNER_CLIENT}
    used = {
        name: int(server_docker("exec", container, "sh", "-c", CPU_USAGE_SCRIPT))
        for name, container in inside_server.items()
    }
    used["client_on_sandbox_network"] = int(docker("exec", CLIENT, "sh", "-c", CPU_USAGE_SCRIPT))
    return used


def direct_url(container: str) -> str:
    return f"http://{container}:{role_defaults('app')['app_port']}/"


def median_run(runs: list[Json]) -> Json:
    """The median of each figure over the runs, with the spread (min, max, n) of the ones the
    table shows: requests per second and each container's CPU time per request."""
    keys = ("requests_per_second", "p50_ms", "p99_ms", "max_ms")
    summary = {key: round(statistics.median(run[key] for run in runs), 2) for key in keys}
    summary["errors"] = sum(run["errors"] for run in runs)
    summary["requests"] = sum(run["requests"] for run in runs)
    for key in ("cpu_percent", "cpu_ms_per_request"):
        names = sorted({name for run in runs for name in run.get(key, {})})
        summary[key] = {
            name: round(statistics.median(run[key].get(name, 0.0) for run in runs), 3)
            for name in names
        }
    summary["spread"] = {
        "requests_per_second": Spread.of([run["requests_per_second"] for run in runs], 1).as_json(),
        "cpu_ms_per_request": {
            name: Spread.of([run["cpu_ms_per_request"].get(name, 0.0) for run in runs]).as_json()
            for name in summary["cpu_ms_per_request"]
        },
    }
    return summary


@contextmanager
def load(
    name: str,
    settings: Settings,
    limit: float,
    timeline: bool = False,
    clients: str = "",
    client: str = CLIENT,
    url: str = "",
) -> Iterator[Json]:
    """harness/loadgen.py in the sandbox-network client (or another `client` container holding
    /tmp/loadgen.py and /tmp/pebble-root.pem), verified HTTPS through the proxy to the site (or
    `url`), for as long as the block runs (at most `limit` s and MAX_LOAD_REQUESTS); the report
    is filled in when the block ends. `clients`: the kinds of client (loadgen's --clients), by
    default settings.load_concurrency keep-alive ones."""
    marker = f"/tmp/bench-{name}-{uuid.uuid4().hex[:8]}"
    command = [
        "docker", "exec", client, "python3", "/tmp/loadgen.py", "--url", url or site_url(),
        "--cafile", "/tmp/pebble-root.pem",
        "--clients", clients or f"keepalive={settings.load_concurrency}",
        "--duration", str(limit), "--max-requests", str(MAX_LOAD_REQUESTS),
        "--stop-file", f"{marker}.stop", "--ready-file", f"{marker}.ready",
        *(["--timeline"] if timeline else []),
    ]  # fmt: skip
    generator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result: Json = {}
    try:
        wait_until(
            lambda: (
                generator.poll() is not None
                or run(
                    "docker", "exec", client, "test", "-e", f"{marker}.ready", check=False
                ).returncode
                == 0
            ),
            30,
            interval=0.2,
        )
        yield result
    finally:
        run("docker", "exec", client, "touch", f"{marker}.stop", check=False)
        output, errors = generator.communicate(timeout=limit + 60)
        if not output.strip():
            raise BenchError(f"the load generator printed nothing: {errors[-1000:]}")
        result.update(json.loads(output))


def load_summary(result: Json) -> Json:
    keys = (
        "total", "ok", "failed", "retried_stale_connections", "requests_per_second",
        "latency_p50_ms", "latency_p99_ms", "latency_max_ms", "failures",
    )  # fmt: skip
    return {key: result.get(key) for key in keys}
