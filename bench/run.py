#!/usr/bin/env python3
"""Benchmarks the toolkit in the local sandbox and prints its figures against their targets.

One run, on one fresh sandbox (harness/sandbox.py), measures:
- provisioning: fresh server -> first verified HTTPS 200 (images prebuilt), and the rerun;
- throughput: wrk with keep-alive, direct to the app and through the proxy over HTTPS, from one
  client container inside the server on the proxy network (same client, same run), and through
  the proxy from a client on the sandbox network (the realistic path); for Caddy and Traefik;
- workers: the same for 1, 2, 4 and vCPUs uvicorn workers (playbooks/deploy.yml);
- crash recovery: kill -9 of uvicorn's main process -> first verified 200 through the proxy;
- deploy: code-only change -> new release live under load (harness/loadgen.py, per request);
- renewal: failed requests while Caddy reloads, and while it re-issues its certificate;
- image: the app image's size over its base, and its rebuild after a code-only change.

Load comes only from client containers on the sandbox's own networks, bounded in time and
count. Results go to .cache/bench/ (results.json, deploy-latency.png, the playbooks' logs).
The figures are this machine's: on 2 shared cores they are noisy, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(REPO_DIR / "harness")]

import report  # noqa: E402
import sandbox  # noqa: E402

Json = dict[str, Any]

OUT_DIR = REPO_DIR / ".cache" / "bench"
LOG_DIR = OUT_DIR / "logs"
INVENTORY = "inventory/sandbox/hosts.yml"
LOADGEN = REPO_DIR / "harness" / "loadgen.py"
WRK_SCRIPT = BENCH_DIR / "wrk-report.lua"
CLIENT_IMAGE = "fastapi-deploy/client:latest"
# The bench's client on the sandbox network, and its twin inside the server on the proxy
# network (the app is reachable only there).
CLIENT = "fastapi-sandbox-bench-client"
INNER_CLIENT = "bench-client"
# As the roles' defaults and the sandbox inventory have them.
PROXY_NETWORK = "edge"
PROXY_ADDRESS = "172.31.240.2"
APP_PORT = 8000
APP_BASE_IMAGE = "fastapi-deploy/python:3.11-slim"
STATE_FILE = "/var/lib/fastapi-app/releases.json"
SITE_URL = f"https://{sandbox.DOMAIN}{sandbox.PATH_PREFIX}/"
BUILD_TASK = "app : Build the app image"
# Caddy renews a certificate once less than this fraction of its lifetime is left (default
# 1/3): a configuration with nearly 1 makes it renew the certificate it holds at its next
# maintenance check, through its ordinary renewal path (no restart, storage untouched). The
# check interval is fixed when Caddy starts, so the proxy is restarted once, before any load,
# with a short renew_interval.
RENEW_NOW_RATIO = "0.9999999"
RENEW_CHECK_INTERVAL = "1s"
CADDY_CONFIG_DIR = "/etc/fastapi-proxy/caddy"
# Docker resets its restart back-off once a container has run this long; crashes are spaced so.
RESTART_BACKOFF_RESET_S = 10.5
MAX_LOAD_REQUESTS = 300_000
SECTIONS = ("provisioning", "image", "throughput", "workers", "crash", "deploy", "renewal")
ENGINES = ("caddy", "traefik")


class BenchError(RuntimeError):
    """A measurement could not be taken; the section records it and the bench goes on."""


@dataclass(frozen=True)
class Settings:
    """How long and how often each figure is measured; smoke runs the same code, shorter."""

    seconds: int = 8
    rounds: int = 3
    threads: int = 2
    connections: int = 32
    crashes: int = 5
    deploys: int = 2
    renewals: int = 3
    load_concurrency: int = 2
    settle_s: float = 2.0


FULL = Settings()
SMOKE = Settings(seconds=2, rounds=1, crashes=2, deploys=1, renewals=1, settle_s=1.0)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# Commands ----------------------------------------------------------------------------------


def run(
    *args: str, timeout: float = 120, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, input=stdin
    )
    if check and result.returncode != 0:
        raise BenchError(f"{' '.join(args[:6])}... exited {result.returncode}: {result.stderr}")
    return result


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    return run("docker", *args, timeout=timeout, check=check).stdout.strip()


def on_server(
    *args: str, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A command in the sandbox server (whose own Docker engine runs the proxy and the app)."""
    return run("docker", "exec", "-i", sandbox.Sandbox.server, *args, timeout=timeout, stdin=stdin)


def server_docker(*args: str, timeout: float = 120) -> str:
    return on_server("docker", *args, timeout=timeout).stdout.strip()


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    """Polls check until it holds; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise BenchError(f"condition not met within {timeout} s")


# Ansible -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybookRun:
    seconds: float
    ok: int
    changed: int
    tasks: dict[str, float]
    log: str

    def summary(self, top: int = 8) -> Json:
        slowest = sorted(self.tasks.items(), key=lambda task: task[1], reverse=True)[:top]
        times = list(self.tasks.values())
        return {
            "seconds": self.seconds, "ok": self.ok, "changed": self.changed,
            "tasks": len(times),
            "median_task_s": round(statistics.median(times), 2) if times else None,
            "slowest_tasks": slowest, "log": self.log,
        }  # fmt: skip


RECAP = re.compile(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PROFILE_LINE = re.compile(r"^(?P<task>\S.*?) -{3,} (?P<seconds>\d+\.\d+)s$", re.M)


def parse_recap(output: str) -> tuple[int, int]:
    """(ok, changed) summed over the hosts of a PLAY RECAP."""
    matches = RECAP.findall(output)
    if not matches:
        raise BenchError("no PLAY RECAP in the playbook's output")
    return sum(int(m[0]) for m in matches), sum(int(m[1]) for m in matches)


def parse_profile(output: str) -> dict[str, float]:
    """Seconds per task (summed when a name repeats), as ansible.posix.profile_tasks lists
    them at the end of a run."""
    tasks: dict[str, float] = {}
    for match in PROFILE_LINE.finditer(output):
        name = match["task"].strip()
        tasks[name] = round(tasks.get(name, 0.0) + float(match["seconds"]), 2)
    return tasks


def ansible_env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO_DIR / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
        "ANSIBLE_FORCE_COLOR": "0",
    }


def playbook(path: str, name: str, extra_vars: Json | None = None) -> PlaybookRun:
    """ansible-playbook against the sandbox; its output goes to .cache/bench/logs/<name>.log."""
    command = ["ansible-playbook", "-i", INVENTORY, path]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    log(f"{' '.join(command)}")
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=REPO_DIR, env=ansible_env(), capture_output=True, text=True, timeout=1800,
        check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_file = LOG_DIR / f"{name}.log"
    log_file.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise BenchError(f"{path} failed (exit {result.returncode}), see {log_file}")
    ok, changed = parse_recap(result.stdout)
    return PlaybookRun(round(took, 2), ok, changed, parse_profile(result.stdout), str(log_file))


# The sandbox ---------------------------------------------------------------------------------


def sandbox_exists(box: sandbox.Sandbox) -> bool:
    return sandbox.exists("container", box.server)


def served(box: sandbox.Sandbox) -> bool:
    """A verified HTTPS 200 through the proxy, from this host over the sandbox's published port."""
    try:
        sandbox.check_site(box)
    except (OSError, RuntimeError, ValueError, IndexError):
        return False
    return True


def served_serial(box: sandbox.Sandbox) -> str:
    """Serial of the certificate the site serves now (verified), or '' when the handshake fails."""
    context = ssl.create_default_context(cafile=str(sandbox.PEBBLE_ROOT))
    try:
        with (
            socket.create_connection(("127.0.0.1", box.https_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=sandbox.DOMAIN) as tls,
        ):
            return str((tls.getpeercert() or {}).get("serialNumber", ""))
    except OSError:
        return ""


def provision_fresh(box: sandbox.Sandbox) -> Json:
    """A new server and Pebble, site.yml, then the first verified HTTPS 200; then the rerun."""
    started = time.monotonic()
    sandbox.create_network(box)
    sandbox.start_pebble(box)
    sandbox.start_server(box)
    sandbox.wait_for_systemd(box)
    booted = time.monotonic() - started
    site = playbook("site.yml", "provision-fresh")
    after_site = time.monotonic()
    sandbox.save_pebble_root(box)
    wait_for(lambda: served(box), 60, interval=0.1)
    first_200 = time.monotonic()
    rerun = playbook("site.yml", "provision-rerun")
    return {
        "fresh_s": round(first_200 - started, 2),
        "boot_s": round(booted, 2),
        "site_yml_s": site.seconds,
        "first_200_after_s": round(first_200 - after_site, 2),
        "site_yml": site.summary(),
        "rerun": rerun.summary(),
    }


def releases() -> Json:
    return json.loads(on_server("cat", STATE_FILE).stdout)


def live_container() -> str:
    return str(releases()["live"])


# Clients -------------------------------------------------------------------------------------


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
        ["docker", "exec", "-i", sandbox.Sandbox.server, "docker", "load"],
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
    server_docker(
        "run", "-d", "--name", INNER_CLIENT, "--network", PROXY_NETWORK,
        "--add-host", f"{sandbox.DOMAIN}:{PROXY_ADDRESS}", CLIENT_IMAGE,
    )  # fmt: skip
    on_server(
        "docker", "exec", "-i", INNER_CLIENT, "sh", "-c", "cat > /tmp/wrk-report.lua",
        stdin=WRK_SCRIPT.read_text(),
    )  # fmt: skip


def stop_clients() -> None:
    docker("rm", "-f", CLIENT, check=False)
    if sandbox_exists(sandbox.Sandbox()):
        run(
            "docker",
            "exec",
            sandbox.Sandbox.server,
            "docker",
            "rm",
            "-f",
            INNER_CLIENT,
            check=False,
        )


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
        ["docker", "exec", sandbox.Sandbox.server, "docker", "exec", INNER_CLIENT]
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
    return f"http://{container}:{APP_PORT}/"


def median_run(runs: list[Json]) -> Json:
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
    return summary


@contextmanager
def load(name: str, settings: Settings, limit: float, timeline: bool = False) -> Iterator[Json]:
    """harness/loadgen.py in the sandbox-network client, verified HTTPS through the proxy, for
    as long as the block runs (at most `limit` s and MAX_LOAD_REQUESTS); the report is filled
    in when the block ends."""
    marker = f"/tmp/bench-{name}-{uuid.uuid4().hex[:8]}"
    command = [
        "docker", "exec", CLIENT, "python3", "/tmp/loadgen.py", "--url", SITE_URL,
        "--cafile", "/tmp/pebble-root.pem", "--concurrency", str(settings.load_concurrency),
        "--duration", str(limit), "--max-requests", str(MAX_LOAD_REQUESTS),
        "--stop-file", f"{marker}.stop", "--ready-file", f"{marker}.ready",
        *(["--timeline"] if timeline else []),
    ]  # fmt: skip
    generator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result: Json = {}
    try:
        wait_for(
            lambda: (
                generator.poll() is not None
                or run(
                    "docker", "exec", CLIENT, "test", "-e", f"{marker}.ready", check=False
                ).returncode
                == 0
            ),
            30,
            interval=0.2,
        )
        yield result
    finally:
        run("docker", "exec", CLIENT, "touch", f"{marker}.stop", check=False)
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


# Sections ----------------------------------------------------------------------------------


def measure_throughput(engine: str, settings: Settings) -> Json:
    live = live_container()
    paths = {
        "direct": (direct_url(live), True),
        "proxy": (SITE_URL, True),
        "proxy_from_sandbox_network": (SITE_URL, False),
    }
    runs: dict[str, list[Json]] = {name: [] for name in paths}
    for _ in range(settings.rounds):
        for name, (url, inner) in paths.items():
            runs[name].append(wrk(url, settings, inner))
    median = {name: median_run(samples) for name, samples in runs.items()}
    direct = median["direct"]["requests_per_second"]
    return {
        "engine": engine,
        "live": live,
        "urls": {name: url for name, (url, _) in paths.items()},
        "runs": runs,
        "median": median,
        "ratio_proxy_direct": round(median["proxy"]["requests_per_second"] / direct, 3),
        "ratio_sandbox_network_direct": round(
            median["proxy_from_sandbox_network"]["requests_per_second"] / direct, 3
        ),
    }


def main_pid(container: str) -> int:
    return int(server_docker("inspect", "--format", "{{.State.Pid}}", container))


def worker_count(container: str) -> int:
    """Processes serving requests: uvicorn's workers (children of the main process started by
    multiprocessing), or the main process itself when it runs a single worker."""
    master = main_pid(container)
    rows = server_docker("top", container, "-o", "pid,ppid,args").splitlines()[1:]
    parsed = (row.split(None, 2) for row in rows)
    spawned = sum(1 for _, ppid, args in parsed if int(ppid) == master and "spawn" in args)
    return spawned or 1


def server_vcpus() -> int:
    return int(on_server("nproc").stdout)


def measure_worker_count(count: int, settings: Settings) -> Json:
    deployed = playbook("playbooks/deploy.yml", f"workers-{count}", {"app_workers": count})
    live = live_container()
    direct = [wrk(direct_url(live), settings, inner=True) for _ in range(settings.rounds)]
    proxy = [wrk(SITE_URL, settings, inner=True) for _ in range(settings.rounds)]
    return {
        "running": worker_count(live),
        "deploy_s": deployed.seconds,
        "direct": median_run(direct),
        "proxy": median_run(proxy),
    }


def measure_workers(settings: Settings) -> Json:
    vcpus = server_vcpus()
    inventory_workers = worker_count(live_container())
    counts: Json = {}
    try:
        for count in sorted({1, 2, 4, vcpus}):
            counts[str(count)] = measure_worker_count(count, settings)
    finally:
        playbook("playbooks/deploy.yml", "workers-restore")
    best = max(counts, key=lambda count: counts[count]["proxy"]["requests_per_second"])
    return {
        "vcpus": vcpus,
        "role_default": vcpus,
        "inventory_workers": inventory_workers,
        "counts": counts,
        "best_through_proxy": best,
    }


def docker_time(value: str) -> float:
    """Epoch seconds of a Docker timestamp (RFC 3339 with nanoseconds, UTC)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", value.strip())
    if not match:
        raise BenchError(f"not a Docker timestamp: {value!r}")
    whole = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return whole + (float(f"0.{match[2]}") if match[2] else 0.0)


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
    wait_for(lambda: served(box), 60, interval=0.05)
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
        wait_for(lambda: served(box), 60, interval=0.2)
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


def app_version(directory: Path, marker: str) -> Path:
    """A copy of the demo app whose code differs by one line: a code-only change."""
    source = directory / marker
    shutil.copytree(REPO_DIR / "app", source)
    main = source / "app" / "main.py"
    main.write_text(f"{main.read_text()}# bench version {marker}\n")
    return source


def image_layers(container: str) -> tuple[str, list[str]]:
    image = server_docker("inspect", "--format", "{{.Config.Image}}", container)
    layers = server_docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)
    return image, json.loads(layers)


def deploy_version(name: str, source: Path) -> Json:
    """deploy.yml with a code-only change; what it took, and how much of the image it rebuilt."""
    _, layers_before = image_layers(live_container())
    started = time.time()
    deployed = playbook("playbooks/deploy.yml", name, {"app_source_dir": str(source)})
    finished = time.time()
    state = releases()
    image, layers_after = image_layers(str(state["live"]))
    return {
        "release": str(state["release"]),
        "image": image,
        "wall_s": deployed.seconds,
        "started_at": started,
        "finished_at": finished,
        "build_s": deployed.tasks.get(BUILD_TASK),
        "layers_reused": sum(1 for layer in layers_after if layer in layers_before),
        "layers_new": sum(1 for layer in layers_after if layer not in layers_before),
        **deployed.summary(),
    }


def deploy_under_load(index: int, source: Path, settings: Settings) -> Json:
    with load(f"deploy-{index}", settings, limit=600, timeline=True) as result:
        time.sleep(settings.settle_s)
        deployed = deploy_version(f"deploy-{index + 1}", source)
        time.sleep(settings.settle_s)
    origin = result["started_at"]
    first_seen = result["releases"].get(deployed["release"], {}).get("first")
    timeline_file = OUT_DIR / f"deploy-{index + 1}-timeline.json"
    timeline_file.write_text(json.dumps(result.pop("timeline", [])))
    return {
        **deployed,
        "index": index,
        "started": round(deployed["started_at"] - origin, 3),
        "finished": round(deployed["finished_at"] - origin, 3),
        "new_release_first_answer_s": (
            round(origin + first_seen - deployed["started_at"], 2)
            if first_seen is not None
            else None
        ),
        "total": result["total"],
        "failed": result["failed"],
        "retried": result["retried_stale_connections"],
        "p50_ms": result["latency_p50_ms"],
        "p99_ms": result["latency_p99_ms"],
        "max_ms": result["latency_max_ms"],
        "failures": result["failures"],
        "releases": result["releases"],
        "timeline_file": str(timeline_file),
    }


def measure_deploy(settings: Settings) -> Json:
    """One code-only deploy on an idle sandbox, then settings.deploys under load."""
    with tempfile.TemporaryDirectory(prefix="bench-app-") as directory:
        stamp = time.strftime("%Y%m%d%H%M%S")
        idle = deploy_version("deploy-idle", app_version(Path(directory), f"v{stamp}-idle"))
        samples = [
            deploy_under_load(index, app_version(Path(directory), f"v{stamp}-{index}"), settings)
            for index in range(settings.deploys)
        ]
    return {"idle": idle, "samples": samples}


def in_proxy(*args: str) -> str:
    return server_docker("exec", "proxy", *args)


def caddy_reload(caddyfile: str = "Caddyfile") -> None:
    in_proxy(
        "caddy", "reload", "--config", f"/etc/caddy/{caddyfile}", "--adapter", "caddyfile",
        "--force",
    )  # fmt: skip


def with_global_options(caddyfile: str, *options: str) -> str:
    """The Caddyfile with options added at the top of its global options block."""
    head, brace, rest = caddyfile.partition("\n{\n")
    if not brace:
        raise BenchError("the Caddyfile has no global options block")
    return head + brace + "".join(f"\t{option}\n" for option in options) + rest


def write_server_file(path: str, content: str) -> None:
    on_server("sh", "-c", f"cat > {path}", stdin=content)


@contextmanager
def caddy_renewing_every_second(box: sandbox.Sandbox) -> Iterator[str]:
    """Restarts the proxy (before any load) with renew_interval 1s, yields the name of a
    Caddyfile beside the live one that makes it renew now; puts everything back afterwards."""
    live_path = f"{CADDY_CONFIG_DIR}/Caddyfile"
    renew_now = "Caddyfile.bench-renew-now"
    live = on_server("cat", live_path).stdout
    check = f"renew_interval {RENEW_CHECK_INTERVAL}"
    on_server("cp", "-p", live_path, f"{live_path}.bench-saved")
    try:
        write_server_file(live_path, with_global_options(live, check))
        write_server_file(
            f"{CADDY_CONFIG_DIR}/{renew_now}",
            with_global_options(live, check, f"renewal_window_ratio {RENEW_NOW_RATIO}"),
        )
        server_docker("restart", "proxy")
        wait_for(lambda: served(box), 60, interval=0.2)
        yield renew_now
    finally:
        on_server("mv", f"{live_path}.bench-saved", live_path)
        on_server("rm", "-f", f"{CADDY_CONFIG_DIR}/{renew_now}")
        server_docker("restart", "proxy")
        wait_for(lambda: served(box), 60, interval=0.2)


def one_renewal(box: sandbox.Sandbox, caddyfile: str) -> Json:
    before = served_serial(box)
    started = time.monotonic()
    caddy_reload(caddyfile)
    took: float | None = None
    try:
        wait_for(lambda: served_serial(box) not in {"", before}, 30, interval=0.1)
        took = round(time.monotonic() - started, 2)
    except BenchError:
        pass
    caddy_reload()  # the live configuration again: no more renewals
    return {
        "renewed": took is not None,
        "seconds": took,
        "serial_before": before,
        "serial_after": served_serial(box),
    }


def measure_renewal(engine: str, box: sandbox.Sandbox, settings: Settings) -> Json:
    if engine != "caddy":
        return {
            "not_measured": "Traefik cannot be told to renew now: it renews 30 days before "
            "expiry, checked daily (certificatesDuration 90 days); short-lived certificates "
            "from a second Pebble are the renewal tests' work, not the bench's"
        }
    with caddy_renewing_every_second(box) as renew_now:
        with load("reload", settings, limit=300) as reloads:
            reload_samples = []
            for _ in range(settings.renewals):
                started = time.monotonic()
                caddy_reload()
                caddy_reload()
                reload_samples.append(round(time.monotonic() - started, 2))
                time.sleep(settings.settle_s)
        with load("renewal", settings, limit=300) as renewals:
            renewal_samples = []
            for _ in range(settings.renewals):
                renewal_samples.append(one_renewal(box, renew_now))
                time.sleep(settings.settle_s)
    return {
        "method": f"Caddy's own renewal: reload with renewal_window_ratio {RENEW_NOW_RATIO} "
        f"(renew_interval {RENEW_CHECK_INTERVAL}), then the live configuration",
        "reload_only": {**load_summary(reloads), "samples": reload_samples},
        "renewal": {**load_summary(renewals), "samples": renewal_samples},
    }


def measure_image() -> Json:
    image = server_docker("inspect", "--format", "{{.Config.Image}}", live_container())
    size = int(server_docker("image", "inspect", "--format", "{{.Size}}", image))
    base = int(server_docker("image", "inspect", "--format", "{{.Size}}", APP_BASE_IMAGE))
    history = server_docker(
        "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", image
    ).splitlines()
    base_history = server_docker("history", "--quiet", APP_BASE_IMAGE).splitlines()
    added = history[: len(history) - len(base_history)]
    layers = [
        {"mb": round(int(size_text) / 1e6, 2), "created_by": " ".join(created.split())[:200]}
        for size_text, created in (line.split("\t", 1) for line in added)
    ]
    return {
        "image": image,
        "size_mb": round(size / 1e6, 1),
        "base_mb": round(base / 1e6, 1),
        "added_mb": round((size - base) / 1e6, 1),
        "layers": layers,
    }


def switch_engine(engine: str, box: sandbox.Sandbox) -> Json:
    switched = playbook("playbooks/app.yml", f"switch-{engine}", {"proxy_engine": engine})
    wait_for(lambda: served(box), 120, interval=0.2)
    return switched.summary()


# Orchestration -------------------------------------------------------------------------------


def run_section(results: Json, name: str, measure: Callable[[], Json]) -> Json:
    log(f"--- {name}")
    started = time.monotonic()
    try:
        data = measure()
    except (BenchError, subprocess.SubprocessError, OSError, KeyError, ValueError) as error:
        log(f"{name} failed: {error}")
        data = {"error": f"{type(error).__name__}: {error}"}
    data["section_s"] = round(time.monotonic() - started, 1)
    results["sections"][name] = data
    save(results)
    return data


def save(results: Json) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")


def machine() -> Json:
    others = docker("ps", "--format", "{{.Names}}").split()
    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "other_containers": [name for name in others if not name.startswith("fastapi-sandbox")],
    }


def prepare_sandbox(box: sandbox.Sandbox, args: argparse.Namespace, results: Json) -> None:
    if sandbox_exists(box):
        if args.reuse:
            results["sections"]["provisioning"] = {"not_measured": "reused a running sandbox"}
            sandbox.save_pebble_root(box)
            return
        log("removing the running sandbox (--recreate)")
        sandbox.down(box)
    data = run_section(results, "provisioning", lambda: provision_fresh(box))
    if "error" in data:
        raise SystemExit(f"bench: provisioning failed, nothing else to measure: {data['error']}")


def measure_engine(
    engine: str, box: sandbox.Sandbox, settings: Settings, wanted: set[str], results: Json
) -> None:
    """Every section wanted, with `engine` serving (the proxy-independent ones with Caddy)."""
    plan: list[tuple[str, Callable[[], Json]]] = [
        ("image", measure_image),
        ("throughput", lambda: measure_throughput(engine, settings)),
        ("workers", lambda: measure_workers(settings)),
        ("crash", lambda: measure_crash(engine, box, settings)),
        ("deploy", lambda: measure_deploy(settings)),
        ("renewal", lambda: measure_renewal(engine, box, settings)),
    ]
    per_engine = {"throughput", "crash", "renewal"}
    for name, measure in plan:
        if name not in wanted or (engine != report.DEFAULT_ENGINE and name not in per_engine):
            continue
        run_section(results, f"{name}.{engine}" if name in per_engine else name, measure)


def run_bench(box: sandbox.Sandbox, settings: Settings, args: argparse.Namespace) -> Json:
    wanted = set(args.sections.split(","))
    engines = [engine for engine in ENGINES if engine in args.engines.split(",")]
    results: Json = {
        "mode": "smoke" if args.smoke else "full",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": asdict(settings),
        "engines": engines,
        "machine": machine(),
        "sections": {},
    }
    if "provisioning" in wanted or not sandbox_exists(box):
        prepare_sandbox(box, args, results)
    else:
        sandbox.save_pebble_root(box)
    start_clients(box)
    for engine in engines:
        if engine != report.DEFAULT_ENGINE:
            switched = run_section(
                results, f"switch.{engine}", lambda engine=engine: switch_engine(engine, box)
            )
            if "error" in switched:
                continue
        measure_engine(engine, box, settings, wanted, results)
    if engines != [report.DEFAULT_ENGINE]:
        back = report.DEFAULT_ENGINE
        run_section(results, f"switch.{back}", lambda: switch_engine(back, box))
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results["machine_after"] = machine()
    return results


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="short measurements, same code path")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    parser.add_argument("--engines", default=",".join(ENGINES), help="caddy and/or traefik")
    parser.add_argument("--recreate", action="store_true", help="replace a running sandbox")
    parser.add_argument("--reuse", action="store_true", help="use a running sandbox as it is")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox up at the end")
    args = parser.parse_args()
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    return args


def main() -> int:
    args = parse_arguments()
    settings = SMOKE if args.smoke else FULL
    box = sandbox.Sandbox()
    if sandbox_exists(box) and not (args.reuse or args.recreate):
        raise SystemExit(
            "bench: a sandbox is up; --recreate replaces it (provisioning is measured on a fresh "
            "one), --reuse measures the rest on it as it is"
        )
    try:
        results = run_bench(box, settings, args)
    finally:
        stop_clients()
        if not args.keep:
            log("removing the sandbox (--keep leaves it up)")
            sandbox.down(box)
    save(results)
    table = report.rows(results)
    print(report.format_table(table))
    if report.plot_deploys(results, OUT_DIR / "deploy-latency.png"):
        log(f"plot: {OUT_DIR / 'deploy-latency.png'}")
    log(f"results: {OUT_DIR / 'results.json'}")
    errors = [name for name, data in results["sections"].items() if "error" in data]
    if errors:
        log(f"sections that could not be measured: {', '.join(errors)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
