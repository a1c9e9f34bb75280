"""Jobs: background work done by a worker process (issue 32), enqueue -> done latency (p50,
p99) and jobs per second, idle and during a code-only deploy, with the jobs lost or done twice.

The sandbox runs no Redis: this section turns it on for its own measurement with the default
Molecule scenario's settings (Redis from the harness image, the app on Redis' network with its
REDIS_URL, one arq worker: app_processes), passed to the playbooks as extra variables, the
password in a file that no log shows. Jobs are the demo app's word counts (POST /jobs, GET
/jobs/{id}), sent from this host through the proxy over verified HTTPS (the sandbox's port on
127.0.0.1): first one at a time, each polled until done; then a batch at once; then batches
again while deploy.yml moves the app and its worker to a new release. A job is done when the
worker logs it (arq's `←` line, stamped by Docker on the host's clock), and confirmed through
GET /jobs/{id}; a job never done is lost, one logged done twice is done twice. At the end the
sandbox is deployed as its inventory has it again (no worker; Redis stays, unused).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench import deploy
from bench.common import BenchError, Json, Settings, log, on_server, playbook, server_docker
from harness import sandbox
from harness.common import DEPLOY_PLAYBOOK, REPO_DIR, app_version, inventory_vars
from harness.loadgen import percentile
from harness.worker_log import parse_worker_log

DATABASE_PLAYBOOK = "playbooks/database.yml"
# The default scenario's Redis and worker: the settings the bench turns on, written down once.
SCENARIO_REDIS_VARS = REPO_DIR / "molecule/default/host_vars/fd-default-server/redis.yml"
SCENARIO_KEYS = ("redis_enabled", "redis_image", "redis_image_archive", "app_env", "app_processes")
SECRET_KEYS = ("redis_password",)
# The longest a job may take from its enqueue to done before it counts as lost.
DONE_WITHIN_S = 60.0
POLL_INTERVAL_S = 0.02
# During the deploy, one job of each batch pretends to work this long: a job in progress when
# the old release's worker is told to stop.
WORKING_JOB_S = 2.0
MAX_DEPLOY_BATCHES = 100


# Settings ------------------------------------------------------------------------------------


def scenario_vars() -> Json:
    return dict(yaml.safe_load(SCENARIO_REDIS_VARS.read_text()))


def jobs_vars(scenario: Json, networks: list[str]) -> tuple[Json, Json]:
    """(extra vars, secret vars) that turn Redis and the worker on in the sandbox: the
    scenario's, without its scheduled jobs, the app on Redis' network beside `networks` (the
    inventory's)."""
    extra = {key: scenario[key] for key in SCENARIO_KEYS}
    extra["app_extra_networks"] = [*(name for name in networks if name != "redis"), "redis"]
    return extra, {key: scenario[key] for key in SECRET_KEYS}


# Pure figures --------------------------------------------------------------------------------


def latencies_ms(enqueued: dict[str, float], done: dict[str, list[float]]) -> list[float]:
    """Enqueue (the client's POST) -> first done, for the jobs done."""
    return [
        round((min(done[job]) - started) * 1000, 2)
        for job, started in enqueued.items()
        if done.get(job)
    ]


def jobs_per_second(enqueued: dict[str, float], done: dict[str, list[float]]) -> float:
    """A batch's jobs over the time from its first enqueue to its last job done."""
    finished = [min(done[job]) for job in enqueued if done.get(job)]
    if not finished:
        return 0.0
    took = max(finished) - min(enqueued.values())
    return round(len(finished) / took, 1) if took > 0 else 0.0


def enqueue_span_s(enqueued: dict[str, float]) -> float:
    """From a batch's first enqueue to its last one: the client's share of the batch's time
    (one connection, one POST after the other)."""
    return round(max(enqueued.values()) - min(enqueued.values()), 3) if enqueued else 0.0


def integrity(jobs: Iterable[str], done: dict[str, list[float]], confirmed: set[str]) -> Json:
    """Jobs lost (never logged done, or never answered complete) and done more than once."""
    jobs = list(jobs)
    return {
        "jobs": len(jobs),
        "lost": sum(1 for job in jobs if not done.get(job) or job not in confirmed),
        "done_twice": sum(1 for job in jobs if len(done.get(job, [])) > 1),
    }


def latency_summary(values: list[float]) -> Json:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.5), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


# The client ----------------------------------------------------------------------------------


class SiteConnection(http.client.HTTPSConnection):
    """HTTPS to the sandbox's port on 127.0.0.1 with the site's name as SNI, verified against
    Pebble's root; opened again the same way when the server closed it."""

    def __init__(self, box: sandbox.Sandbox) -> None:
        self.site_context = ssl.create_default_context(cafile=str(sandbox.PEBBLE_ROOT))
        super().__init__(sandbox.site().domain, box.https_port, timeout=10)
        self.address = ("127.0.0.1", box.https_port)

    def connect(self) -> None:
        raw = socket.create_connection(self.address, timeout=self.timeout)
        self.sock = self.site_context.wrap_socket(raw, server_hostname=self.host)


@dataclass
class SiteClient:
    """One keep-alive connection to the site through the proxy, from this host."""

    box: sandbox.Sandbox
    connection: SiteConnection | None = None

    def request(self, method: str, path: str, body: Json | None = None) -> Json:
        """One request, on a new connection when the kept one was closed (a GET only: a POST
        that got no answer may have been queued, so it is not sent again)."""
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = SiteConnection(self.box)
            try:
                self.connection.request(
                    method, sandbox.site().path(path),
                    body=json.dumps(body) if body is not None else None,
                    headers={"Host": sandbox.site().domain, "Content-Type": "application/json"},
                )  # fmt: skip
                response = self.connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if method != "GET" or attempt == 2:
                    raise BenchError(f"{method} {path}: {error}") from error
                continue
            if response.status not in (200, 202):
                raise BenchError(f"{method} {path} answered {response.status}: {answer[:200]!r}")
            return dict(json.loads(answer))
        raise BenchError(f"{method} {path}: no answer")

    def enqueue(self, text: str, seconds: float = 0.0) -> tuple[str, float]:
        started = time.time()
        job = str(self.request("POST", "/jobs", {"text": text, "seconds": seconds})["job"])
        return job, started

    def complete(self, job: str) -> bool:
        answer = self.request("GET", f"/jobs/{job}")
        if answer["status"] == "complete" and not answer.get("success"):
            raise BenchError(f"job {job} failed: {answer}")
        return answer["status"] == "complete"

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None


def job_text(index: int) -> str:
    return f"bench job {index} {uuid.uuid4().hex[:8]}"


def wait_done(client: SiteClient, jobs: Iterable[str], deadline: float) -> set[str]:
    """Polls each job in the order queued until it answers complete, or the deadline passes;
    the jobs confirmed done."""
    confirmed: set[str] = set()
    for job in jobs:
        while time.time() < deadline:
            try:
                if client.complete(job):
                    confirmed.add(job)
                    break
            except BenchError as error:
                log(f"poll failed, polling again: {error}")
            time.sleep(POLL_INTERVAL_S)
    return confirmed


# Measurements --------------------------------------------------------------------------------


@dataclass
class Record:
    """Every job the section queued: when (client's clock), with or without pretended work,
    and whether GET /jobs/{id} confirmed it done."""

    enqueued: dict[str, float] = field(default_factory=dict)
    working: set[str] = field(default_factory=set)
    confirmed: set[str] = field(default_factory=set)
    enqueue_failed: int = 0


def one_at_a_time(client: SiteClient, count: int, record: Record) -> dict[str, float]:
    mine: dict[str, float] = {}
    for index in range(count):
        job, started = client.enqueue(job_text(index))
        mine[job] = started
        record.confirmed |= wait_done(client, [job], started + DONE_WITHIN_S)
    record.enqueued |= mine
    return mine


def batch(client: SiteClient, count: int, record: Record, working: int = 0) -> dict[str, float]:
    """`count` jobs queued back to back (and `working` with pretended work), then waited for;
    the ones without work, with their enqueue times."""
    mine: dict[str, float] = {}
    queued: list[str] = []
    for index in range(count + working):
        seconds = WORKING_JOB_S if index >= count else 0.0
        try:
            job, started = client.enqueue(job_text(index), seconds)
        except BenchError as error:
            log(f"enqueue failed: {error}")
            record.enqueue_failed += 1
            continue
        record.enqueued[job] = started
        queued.append(job)
        if seconds:
            record.working.add(job)
        else:
            mine[job] = started
    record.confirmed |= wait_done(client, queued, time.time() + DONE_WITHIN_S)
    return mine


def worker_logs(since: float) -> str:
    """Both streams of every worker container's log (old releases' too), stamped by Docker."""
    names = server_docker(
        "ps", "-a", "--filter", "label=fastapi-deploy.process=worker", "--format", "{{.Names}}"
    ).split()
    if not names:
        raise BenchError("no worker container on the server")
    logs = [
        on_server("docker", "logs", "--timestamps", "--since", f"{since:.3f}", name)
        for name in names
    ]
    return "\n".join(result.stdout + result.stderr for result in logs)


def figures(batches: list[dict[str, float]], done: dict[str, list[float]]) -> Json:
    """Latency over every job of the batches, and jobs per second per batch (the median when
    there are several)."""
    every = {job: started for part in batches for job, started in part.items()}
    rates = [jobs_per_second(part, done) for part in batches if part]
    return {
        "latency": latency_summary(latencies_ms(every, done)),
        "jobs_per_second": round(statistics.median(rates), 1) if rates else 0.0,
        "batch_rates": rates,
        "enqueue_s": round(statistics.median(enqueue_span_s(part) for part in batches), 3)
        if batches
        else 0.0,
        "batches": len(rates),
    }


def during_deploy(
    client: SiteClient, settings: Settings, record: Record, extra: Json, secret: Json
) -> tuple[list[dict[str, float]], Json]:
    """Batches of jobs (half the count, and one with pretended work) back to back from before
    a code-only deploy starts to after it ends."""
    batches: list[dict[str, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-jobs-") as directory,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        source = app_version(Path(directory), f"v{time.strftime('%Y%m%d%H%M%S')}-jobs")
        deploy_vars = extra | deploy.source_vars(source)
        time.sleep(settings.settle_s)
        running: Future[Json] = pool.submit(
            deploy.deploy_version, "jobs-deploy", deploy_vars, secret
        )
        while not running.done() and len(batches) < MAX_DEPLOY_BATCHES:
            batches.append(batch(client, max(settings.jobs // 2, 1), record, working=1))
        settle_until = time.time() + settings.settle_s
        while time.time() < settle_until:
            batches.append(batch(client, max(settings.jobs // 2, 1), record, working=1))
        deployed = running.result()
    return batches, deployed


def measure_jobs(box: sandbox.Sandbox, settings: Settings) -> Json:
    extra, secret = jobs_vars(scenario_vars(), inventory_vars().get("app_extra_networks", []))
    since = time.time() - 1
    on = playbook(DATABASE_PLAYBOOK, "jobs-redis", extra, secret)
    client = SiteClient(box)
    record = Record()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-jobs-") as directory:
            source = app_version(Path(directory), f"v{time.strftime('%Y%m%d%H%M%S')}-worker")
            first = deploy.deploy_version("jobs-worker", extra | deploy.source_vars(source), secret)
        log(f"{settings.jobs} jobs one at a time, then {settings.jobs} at once")
        sequential = one_at_a_time(client, settings.jobs, record)
        at_once = batch(client, settings.jobs, record)
        log("batches of jobs during a code-only deploy")
        deploy_batches, deployed = during_deploy(client, settings, record, extra, secret)
        done, retried = parse_worker_log(worker_logs(since))
    finally:
        client.close()
        playbook(DEPLOY_PLAYBOOK, "jobs-restore")
    idle_jobs = {**sequential, **at_once}
    deploy_jobs = [job for job in record.enqueued if job not in idle_jobs]
    return {
        "redis": on.summary(),
        "worker_deploy": {key: first[key] for key in ("release", "wall_s")},
        "one_at_a_time": figures([sequential], done)["latency"],
        "at_once": figures([at_once], done),
        "idle_integrity": integrity(idle_jobs, done, record.confirmed),
        "deploy": {
            **figures(deploy_batches, done),
            "release": deployed["release"],
            "wall_s": deployed["wall_s"],
            "working_jobs": len(record.working),
            "working_job_s": WORKING_JOB_S,
            "retried_by_arq": sum(retried.get(job, 0) for job in deploy_jobs),
            "enqueue_failed": record.enqueue_failed,
            **integrity(deploy_jobs, done, record.confirmed),
        },
    }
