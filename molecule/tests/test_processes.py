"""An app's processes besides its web process (app_processes): here the demo app's queue worker
(arq on the scenario's Redis, molecule/default/host_vars/fd-default-server/redis.yml). It does
the jobs the web process queues, runs with the web container's limits and hardening and no port,
restarts when it dies, finishes the job it is doing when it is stopped, and moves with the
release: a deploy starts the new release's worker once the new web process is healthy and
routed, and stops the previous one (kept for rollback); a rollback moves it back."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import testinfra
from conftest import Site, live_release, run_playbook

from harness.common import DEPLOY_PLAYBOOK, ROLLBACK_PLAYBOOK, app_version, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

PROCESS_OF = "fastapi-deploy.process-of"
# What the worker shares with the web container, from Docker's view of each.
SHARED_HOST_CONFIG = (
    "Memory", "MemorySwap", "PidsLimit", "ReadonlyRootfs", "CapDrop", "SecurityOpt", "Tmpfs",
    "RestartPolicy",
)  # fmt: skip
# A job long enough to be caught in progress, well within the worker's grace (20 s).
SLOW_JOB_SECONDS = 8
# A worker started again must still run this long after (no restart loop).
STAYS_UP_SECONDS = 10

Jobs = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module", autouse=True)
def only_with_processes(inventory_vars: dict[str, Any]) -> None:
    if not inventory_vars.get("app_processes"):
        pytest.fail("this scenario's inventory has no app_processes, yet runs test_processes")


def processes_of(host: testinfra.host.Host, release: str, state: str = "running") -> list[str]:
    """The process containers of a release (its web container's name), in the given state."""
    return host.check_output(
        f"docker ps -a --filter label={PROCESS_OF}={release} --filter status={state} "
        "--format '{{.Names}}'"
    ).split()


def running_worker(host: testinfra.host.Host) -> str:
    live = live_release(host)["live"]
    workers = processes_of(host, live)
    assert len(workers) == 1, (
        workers,
        host.run(f"docker ps -a --filter label={PROCESS_OF}={live}").stdout,
    )
    return workers[0]


@pytest.fixture
def jobs(client: testinfra.host.Host, site: Site, pebble_root: str) -> Jobs:
    """The jobs endpoint through the proxy, from the outside client: jobs() queues a job and
    returns its id, jobs(id) its state."""

    def call(job: str | None = None, text: str = "", seconds: float = 0) -> dict[str, Any]:
        if job is None:
            body = shlex.quote(json.dumps({"text": text, "seconds": seconds}))
            data = f"-X POST -H 'content-type: application/json' --data {body}"
            path = "/jobs"
        else:
            data, path = "", f"/jobs/{job}"
        output = client.check_output(
            f"curl -fsS --max-time 20 --cacert {pebble_root} {data} '{site.url(path)}'"
        )
        return json.loads(output)

    return call


def finished(jobs: Jobs, job: str, timeout: float = 60) -> dict[str, Any]:
    """The job's state once complete (fails after `timeout` s)."""
    wait_until(lambda: jobs(job)["status"] == "complete", timeout)
    return jobs(job)


def test_a_job_queued_through_the_proxy_is_done_by_the_live_releases_worker(
    host: testinfra.host.Host, jobs: Jobs
) -> None:
    job = jobs(text="three little words")["job"]
    done = finished(jobs, job)
    assert done["success"] is True
    assert done["result"] == {"words": 3, "release": live_release(host)["release"]}


def test_the_worker_runs_with_the_web_containers_limits_and_hardening_and_no_port(
    host: testinfra.host.Host,
) -> None:
    web = host.docker(live_release(host)["live"]).inspect()
    worker = host.docker(running_worker(host)).inspect()
    for setting in SHARED_HOST_CONFIG:
        assert worker["HostConfig"][setting] == web["HostConfig"][setting], setting
    assert worker["Image"] == web["Image"]
    assert set(worker["NetworkSettings"]["Networks"]) == set(web["NetworkSettings"]["Networks"])
    assert sorted(worker["Config"]["Env"]) == sorted(web["Config"]["Env"])
    # The image's EXPOSE shows as a port, bound to nothing on the host.
    assert not worker["HostConfig"]["PortBindings"]
    assert all(binding is None for binding in worker["NetworkSettings"]["Ports"].values())


def test_a_stopped_worker_finishes_the_job_it_is_doing_first(
    host: testinfra.host.Host, jobs: Jobs
) -> None:
    """A stop as a deploy's retirement does it: the container's own stop signal and grace."""
    worker = running_worker(host)
    job = jobs(text="caught in progress", seconds=SLOW_JOB_SECONDS)["job"]
    wait_until(lambda: jobs(job)["status"] == "in_progress", 30)
    started = time.monotonic()
    host.check_output(f"docker stop {worker}")
    stopped_after = time.monotonic() - started
    try:
        assert host.docker(worker).inspect()["State"]["ExitCode"] == 0
        # It waited for the job (not killed at the end of its grace, not cancelled at once).
        assert 1 < stopped_after < SLOW_JOB_SECONDS + 10, stopped_after
        assert finished(jobs, job, timeout=5)["result"]["words"] == 3
    finally:
        host.check_output(f"docker start {worker}")


def test_a_deploy_moves_the_worker_to_the_new_release_and_a_rollback_moves_it_back(
    host: testinfra.host.Host, jobs: Jobs, tmp_path: Path
) -> None:
    before = live_release(host)
    old_worker = running_worker(host)
    result = run_playbook(
        DEPLOY_PLAYBOOK,
        {"app_source_dir": str(app_version(tmp_path, "processes")), "app_image": "",
         "app_release": "processes"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    deployed = live_release(host)
    assert deployed["release"] == "processes"
    assert processes_of(host, deployed["live"]) == [f"{deployed['live']}-worker-1"]
    # The previous release's worker is stopped, kept for a rollback with its release.
    assert processes_of(host, before["live"], state="exited") == [old_worker]
    assert finished(jobs, jobs(text="after the deploy")["job"])["result"]["release"] == "processes"

    result = run_playbook(ROLLBACK_PLAYBOOK, {"app_rollback_to": before["live"]})
    assert result.returncode == 0, result.stdout[-3000:]
    assert live_release(host)["live"] == before["live"]
    assert processes_of(host, before["live"]) == [old_worker]
    assert processes_of(host, deployed["live"], state="exited") == [f"{deployed['live']}-worker-1"]
    result = finished(jobs, jobs(text="after the rollback")["job"])["result"]
    assert result["release"] == before["release"]


def test_a_worker_that_dies_is_started_again_and_stays_up(host: testinfra.host.Host) -> None:
    worker = running_worker(host)
    before = host.docker(worker).inspect()["RestartCount"]
    # Its main process killed, not `docker kill` (which Docker treats as a manual stop).
    host.check_output(f"kill -9 $(docker inspect --format '{{{{.State.Pid}}}}' {worker})")
    wait_until(
        lambda: (
            (found := host.docker(worker).inspect())["State"]["Running"]
            and found["RestartCount"] > before
        ),
        30,
    )
    restarted = host.docker(worker).inspect()["RestartCount"]
    time.sleep(STAYS_UP_SECONDS)
    found = host.docker(worker).inspect()
    assert found["State"]["Running"] and found["RestartCount"] == restarted, (
        found["State"],
        host.run(f"docker logs --tail 30 {worker}").stdout,
    )
