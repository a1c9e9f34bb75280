"""An app's processes besides its web process (app_processes): here the demo app's queue worker
(arq on the scenario's Redis, molecule/default/host_vars/fd-default-server/redis.yml). It does
the jobs the web process queues, runs with the web container's limits and hardening and no port,
restarts when it dies, finishes the job it is doing when it is stopped, and moves with the
release: a deploy starts the new release's worker once the new web process is healthy and
routed, and stops the previous one (kept for rollback); a rollback moves it back. Across a
deploy, each job queued is done exactly once, those in progress at the switch by the old worker
within its grace, and a scheduled job (here every 15 s) runs once in each period."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import testinfra
from conftest import Site, live_release, run_playbook

from harness.common import DEPLOY_PLAYBOOK, ROLLBACK_PLAYBOOK, app_version, wait_until
from harness.worker_log import docker_time, parse_worker_log

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
# Across the deploy: a job queued a second, each working this long (the old worker has several in
# progress when the new one starts, all done well within its grace), the client's loop bounded.
WORKING_JOB_SECONDS = 6
MAX_JOBS_QUEUED = 180
QUEUED, STOP_QUEUEING, QUEUEING_DONE = (
    "/tmp/queued-jobs",
    "/tmp/stop-queueing",
    "/tmp/queueing-done",
)
# The note count, scheduled every 15 s for the deploy (the inventory has it hourly).
COUNT_TIMER = "fastapi-job-app-count-notes.timer"
COUNT_SERVICE = COUNT_TIMER.removesuffix(".timer") + ".service"
COUNT_EVERY_SECONDS = 15

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


@pytest.fixture(scope="module")
def deployed_under_work(
    host: testinfra.host.Host,
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """A code-only deploy while the outside client queues a job a second (each working
    WORKING_JOB_SECONDS, so the old worker has jobs in progress when the new one starts) and the
    note count runs every COUNT_EVERY_SECONDS: what was live before and after, the jobs queued,
    and when the deploy ran."""
    before = live_release(host)
    old_worker = running_worker(host)
    schedule_count(host, f"*:*:0/{COUNT_EVERY_SECONDS}")
    try:
        client.check_output(f"rm -f {QUEUED} {STOP_QUEUEING} {QUEUEING_DONE}")
        client.check_output(f"nohup sh -c {shlex.quote(queue_loop(site, pebble_root))} "
                            ">/dev/null 2>&1 &")  # fmt: skip
        started = time.time()
        result = run_playbook(
            DEPLOY_PLAYBOOK,
            {"app_source_dir": str(app_version(tmp_path_factory.mktemp("app"), "processes")),
             "app_image": "", "app_release": "processes"},
        )  # fmt: skip
        ended = time.time()
        client.check_output(f"touch {STOP_QUEUEING}")
        wait_until(lambda: client.file(QUEUEING_DONE).exists, 15)
        # The note count's run of the last period the deploy reached.
        last_period = ended - ended % COUNT_EVERY_SECONDS
        wait_until(lambda: any(at >= last_period for at in count_runs(client, site, pebble_root)),
                   COUNT_EVERY_SECONDS + 15)  # fmt: skip
    finally:
        schedule_count(host, None)
    assert result.returncode == 0, result.stdout[-3000:]
    yield {
        "before": before, "old_worker": old_worker, "deployed": live_release(host),
        "queued": client.file(QUEUED).content_string.splitlines(),
        "started": started, "ended": ended,
    }  # fmt: skip


def schedule_count(host: testinfra.host.Host, calendar: str | None) -> None:
    """The note count on this schedule, over the inventory's (a drop-in); None: the
    inventory's again."""
    drop_in = f"/etc/systemd/system/{COUNT_TIMER}.d"
    if calendar is None:
        host.check_output(f"rm -rf {drop_in}")
    else:
        host.check_output(
            f"mkdir -p {drop_in} && printf '[Timer]\\nOnCalendar=\\nOnCalendar={calendar}\\n' "
            f"> {drop_in}/test-schedule.conf"
        )
    host.check_output(f"systemctl daemon-reload && systemctl restart {COUNT_TIMER}")


def queue_loop(site: Site, pebble_root: str) -> str:
    """The client's loop queueing a job a second until told to stop (bounded): each answer's
    job id on a line, or `failed`."""
    body = shlex.quote(
        json.dumps({"text": "queued across a deploy", "seconds": WORKING_JOB_SECONDS})
    )
    post = (
        f"curl -fsS --max-time 10 --cacert {pebble_root} -X POST "
        f"-H 'content-type: application/json' --data {body} '{site.url('/jobs')}'"
    )
    return (
        f"for i in $(seq {MAX_JOBS_QUEUED}); do [ -e {STOP_QUEUEING} ] && break; "
        f"({post} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"job\"])' "
        f"|| echo failed) >> {QUEUED}; sleep 1; done; touch {QUEUEING_DONE}"
    )


def count_starts(host: testinfra.host.Host, since: float) -> list[float]:
    """When systemd started the note count (epoch seconds): the schedule's own record, before a
    container and Python add their start-up time (seconds under a deploy's load)."""
    journal = host.check_output(
        f"journalctl -u {COUNT_SERVICE} -o short-unix --no-pager --since @{int(since)}"
    )
    return [float(line.split()[0]) for line in journal.splitlines() if "]: Starting " in line]


def count_runs(client: testinfra.host.Host, site: Site, pebble_root: str) -> list[float]:
    """When the note count ran (epoch seconds, as it recorded), newest first."""
    runs = json.loads(
        client.check_output(
            f"curl -fsS --max-time 20 --cacert {pebble_root} '{site.url('/scheduled-runs')}'"
        )
    )
    return [datetime.fromisoformat(run["at"]).timestamp() for run in runs]


def worker_logs(
    host: testinfra.host.Host, *workers: str
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """What the workers logged done (each time) and cancelled to run again, together."""
    return parse_worker_log(
        "\n".join(
            host.check_output(f"docker logs --timestamps {worker} 2>&1") for worker in workers
        )
    )


def test_a_deploy_moves_the_worker_to_the_new_release(
    host: testinfra.host.Host, jobs: Jobs, deployed_under_work: dict[str, Any]
) -> None:
    deployed = deployed_under_work["deployed"]
    assert deployed["release"] == "processes"
    assert processes_of(host, deployed["live"]) == [f"{deployed['live']}-worker-1"]
    # The previous release's worker is stopped, kept for a rollback with its release.
    old = deployed_under_work["old_worker"]
    assert processes_of(host, deployed_under_work["before"]["live"], state="exited") == [old]
    assert finished(jobs, jobs(text="after the deploy")["job"])["result"]["release"] == "processes"


def test_each_job_queued_across_a_deploy_is_done_exactly_once(
    host: testinfra.host.Host,
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    deployed_under_work: dict[str, Any],
) -> None:
    queued = deployed_under_work["queued"]
    assert "failed" not in queued, queued
    assert len(queued) >= 10, queued  # the loop ran through the deploy
    new_worker = running_worker(host)
    wait_until(lambda: set(queued) <= set(worker_logs(host, new_worker)[0])
               | set(worker_logs(host, deployed_under_work["old_worker"])[0]),
               WORKING_JOB_SECONDS + 30)  # fmt: skip
    done, retried = worker_logs(host, deployed_under_work["old_worker"], new_worker)
    assert {job: len(done.get(job, [])) for job in queued if len(done.get(job, [])) != 1} == {}
    assert {job: retried[job] for job in queued if job in retried} == {}
    # The queue says so too: each complete and successful.
    states = client.check_output(
        "for job in " + " ".join(queued) + f"; do curl -fsS --max-time 10 --cacert {pebble_root} "
        f"'{site.url('/jobs/')}'$job; echo; done"
    )
    answers = [json.loads(line) for line in states.splitlines()]
    assert [a for a in answers if a["status"] != "complete" or not a["success"]] == []


def test_jobs_in_progress_when_the_new_worker_starts_are_finished_by_the_old_one_in_its_grace(
    host: testinfra.host.Host, deployed_under_work: dict[str, Any]
) -> None:
    old = host.docker(deployed_under_work["old_worker"]).inspect()
    new_started = docker_time(host.docker(running_worker(host)).inspect()["State"]["StartedAt"])
    done, _ = worker_logs(host, deployed_under_work["old_worker"])
    finished_after_the_switch = [
        job for job in deployed_under_work["queued"] if max(done.get(job, [0.0])) > new_started
    ]
    assert finished_after_the_switch, "no job of the old worker's was in progress at the switch"
    # It stopped on its own once they were done, not killed at the end of its grace.
    assert old["State"]["ExitCode"] == 0, old["State"]


def test_a_job_every_15_seconds_runs_once_in_each_period_across_a_deploy(
    host: testinfra.host.Host,
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    deployed_under_work: dict[str, Any],
) -> None:
    """Started once in each period (systemd's record of its starts: the time the job itself
    records comes seconds later, after its container started), and each start recorded its run."""
    started, ended = deployed_under_work["started"], deployed_under_work["ended"]
    first = started - started % COUNT_EVERY_SECONDS + COUNT_EVERY_SECONDS
    periods = range(int(first), int(ended) + 1, COUNT_EVERY_SECONDS)
    starts = count_starts(host, first)
    per_period = {start: sum(start <= at < start + COUNT_EVERY_SECONDS for at in starts)
                  for start in periods}  # fmt: skip
    assert len(per_period) >= 2, (started, ended)
    assert set(per_period.values()) == {1}, per_period
    recorded = [at for at in count_runs(client, site, pebble_root) if at >= first]
    assert len(recorded) >= sum(per_period.values()), (recorded, per_period)


def test_a_rollback_moves_the_worker_back(
    host: testinfra.host.Host, jobs: Jobs, deployed_under_work: dict[str, Any]
) -> None:
    before, deployed = deployed_under_work["before"], deployed_under_work["deployed"]
    result = run_playbook(ROLLBACK_PLAYBOOK, {"app_rollback_to": before["live"]})
    assert result.returncode == 0, result.stdout[-3000:]
    assert live_release(host)["live"] == before["live"]
    assert processes_of(host, before["live"]) == [deployed_under_work["old_worker"]]
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
