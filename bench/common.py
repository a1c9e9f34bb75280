"""What the bench's sections share: settings, the sandbox and its server, playbook runs and
their timings, and the paths of the results."""

from __future__ import annotations

import functools
import json
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import sandbox
from harness.common import (
    CACHE_DIR,
    SANDBOX_INVENTORY,
    HarnessError,
    Json,
    docker_exists,
    inventory_vars,
    logger,
    play_recap,
    role_defaults,
    run,
    run_playbook,
)

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = CACHE_DIR / "bench"
LOG_DIR = OUT_DIR / "logs"

# A measurement could not be taken; the section records it and the bench goes on.
BenchError = HarnessError

log = logger("bench")


@dataclass(frozen=True)
class Settings:
    """How long and how often each figure is measured; smoke runs the same code, shorter."""

    seconds: int = 8
    rounds: int = 3
    # Throughput is the figure that swings most on a shared machine: more rounds than the rest.
    throughput_rounds: int = 5
    threads: int = 2
    connections: int = 32
    crashes: int = 5
    deploys: int = 2
    renewals: int = 3
    load_concurrency: int = 2
    # The clients during a deploy's switch: one of each kind harness/loadgen.py has, so that a
    # switch that fails any kind of client shows (issue: zero failed requests for every client).
    switch_clients: str = "keepalive=1,fresh=1,post=1,long=1,websocket=1"
    settle_s: float = 2.0
    # The database section's stated size: this many notes (bench/database.py).
    database_rows: int = 200_000
    # The jobs section's count: jobs one at a time, then as many at once (bench/jobs.py).
    jobs: int = 200
    # The alerts section's runs of the checker (bench/alerts.py).
    alerts_runs: int = 10


FULL = Settings()
SMOKE = Settings(
    seconds=2,
    rounds=1,
    throughput_rounds=3,
    crashes=2,
    deploys=1,
    renewals=1,
    settle_s=1.0,
    database_rows=2_000,
    jobs=40,
    alerts_runs=3,
)


@functools.cache
def box() -> sandbox.Sandbox:
    """The sandbox of inventory/sandbox, which the bench measures."""
    return sandbox.Sandbox.from_inventory()


def site_url() -> str:
    return sandbox.site().url()


def app_state_file() -> str:
    return str(role_defaults("app")["app_state_file"])


def app_base_image() -> str:
    return str(inventory_vars()["app_base_image"])


def on_server(
    *args: str, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A command in the sandbox server (whose own Docker engine runs the proxy and the app)."""
    return run("docker", "exec", "-i", box().server, *args, timeout=timeout, input_text=stdin)


def server_docker(*args: str, timeout: float = 120) -> str:
    return on_server("docker", *args, timeout=timeout).stdout.strip()


def sandbox_exists() -> bool:
    return docker_exists("container", box().server)


def releases() -> Json:
    return json.loads(on_server("cat", app_state_file()).stdout)


def live_container() -> str:
    return str(releases()["live"])


# Ansible -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybookRun:
    seconds: float
    ok: int
    changed: int
    # Tasks run on the server: ok + skipped, as the play recap counts them.
    tasks_run: int
    tasks: dict[str, float]
    log: str

    def summary(self, top: int = 8) -> Json:
        slowest = sorted(self.tasks.items(), key=lambda task: task[1], reverse=True)[:top]
        times = list(self.tasks.values())
        return {
            "seconds": self.seconds, "ok": self.ok, "changed": self.changed,
            "tasks_run": self.tasks_run, "tasks": len(times),
            "median_task_s": round(statistics.median(times), 2) if times else None,
            "slowest_tasks": slowest, "log": self.log,
        }  # fmt: skip


PROFILE_LINE = re.compile(r"^(?P<task>\S.*?) -{3,} (?P<seconds>\d+\.\d+)s$", re.M)


def parse_recap(output: str) -> tuple[int, int, int]:
    """(ok, changed, tasks run) summed over the servers of a PLAY RECAP: the controller's own
    checks (localhost) are not the server's work, and the task budgets count the server's."""
    recap = play_recap(output)
    servers = [counts for host, counts in recap.items() if host != "localhost"]
    if not servers:
        raise BenchError("no server in the PLAY RECAP of the playbook's output")
    return tuple(sum(host[key] for host in servers) for key in ("ok", "changed", "tasks"))  # type: ignore[return-value]


def parse_profile(output: str) -> dict[str, float]:
    """Seconds per task (summed when a name repeats), as ansible.posix.profile_tasks lists
    them at the end of a run."""
    tasks: dict[str, float] = {}
    for match in PROFILE_LINE.finditer(output):
        name = match["task"].strip()
        tasks[name] = round(tasks.get(name, 0.0) + float(match["seconds"]), 2)
    return tasks


def playbook(
    path: str,
    name: str,
    extra_vars: Json | None = None,
    secret_vars: Json | None = None,
    inventory: str | Path = SANDBOX_INVENTORY,
    env: dict[str, str] | None = None,
) -> PlaybookRun:
    """ansible-playbook against the sandbox (or another inventory); its output goes to
    .cache/bench/logs/<name>.log, with the time each task took (ansible.posix.profile_tasks).
    secret_vars (a password) go in a file of mode 0600 passed as `-e @file`: neither the log line
    nor the command line shows them."""
    hidden = f" -e @<a file of {', '.join(sorted(secret_vars))}>" if secret_vars else ""
    log(f"ansible-playbook -i {inventory} {path}"
        + (f" -e {json.dumps(extra_vars)}" if extra_vars else "") + hidden)  # fmt: skip
    started = time.monotonic()
    with tempfile.NamedTemporaryFile("w", prefix="bench-vars-", suffix=".json") as secrets:
        json.dump(secret_vars or {}, secrets)
        secrets.flush()
        result = run_playbook(
            path, *(["-e", f"@{secrets.name}"] if secret_vars else []), extra_vars=extra_vars,
            inventory=inventory,
            env={
                "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
                "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
                **(env or {}),
            },
        )  # fmt: skip
    took = time.monotonic() - started
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_file = LOG_DIR / f"{name}.log"
    log_file.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise BenchError(f"{path} failed (exit {result.returncode}), see {log_file}")
    ok, changed, tasks_run = parse_recap(result.stdout)
    return PlaybookRun(
        round(took, 2), ok, changed, tasks_run, parse_profile(result.stdout), str(log_file)
    )
