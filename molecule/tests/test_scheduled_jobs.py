"""An app's scheduled jobs (app_jobs): here the demo app's note count (recorded in Redis) and a
job that outlasts its timeout (molecule/default/host_vars/fd-default-server/redis.yml). Each is
a systemd timer on the server whose service runs the command in a one-off container of the live
release, with the web container's limits and hardening; a job never runs twice at once, its
timeout stops it and removes its container, `status` and `logs` show how it ended, and a job the
inventory no longer has is unscheduled by the next run."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import testinfra
from conftest import Site, live_release, run_playbook

from harness.common import DEPLOY_PLAYBOOK, LOGS_PLAYBOOK, STATUS_PLAYBOOK, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

COUNT = "fastapi-job-app-count-notes"
LINGER = "fastapi-job-app-linger"
LINGER_CONTAINER = "app-job-linger"
LINGER_TIMEOUT = 15
SHARED_HOST_CONFIG = (
    "Memory", "MemorySwap", "PidsLimit", "ReadonlyRootfs", "CapDrop", "SecurityOpt", "Tmpfs",
)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def only_with_jobs(inventory_vars: dict[str, Any]) -> None:
    if not inventory_vars.get("app_jobs"):
        pytest.fail("this scenario's inventory has no app_jobs, yet runs test_scheduled_jobs")


def unit(host: testinfra.host.Host, name: str, *properties: str) -> dict[str, str]:
    output = host.check_output(f"systemctl show {name} -p {','.join(properties)}")
    return dict(line.split("=", 1) for line in output.splitlines())


def running(host: testinfra.host.Host, container: str) -> bool:
    return container in host.check_output("docker ps --format '{{.Names}}'").split()


def test_each_job_is_a_timer_enabled_at_boot_on_its_schedule(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    for job in inventory_vars["app_jobs"]:
        timer = f"fastapi-job-app-{job['name']}.timer"
        found = unit(host, timer, "ActiveState", "UnitFileState")
        assert found == {"ActiveState": "active", "UnitFileState": "enabled"}, timer
        timer_file = host.file(f"/etc/systemd/system/{timer}").content_string
        assert f"OnCalendar={job['schedule']}\n" in timer_file


def test_a_job_runs_its_command_in_a_container_of_the_live_release_and_leaves_none(
    host: testinfra.host.Host, client: testinfra.host.Host, site: Site, pebble_root: str
) -> None:
    host.check_output(f"systemctl start {COUNT}.service")  # a oneshot: returns when it ended
    assert unit(host, f"{COUNT}.service", "Result")["Result"] == "success"
    runs = json.loads(
        client.check_output(
            f"curl -fsS --max-time 20 --cacert {pebble_root} '{site.url('/scheduled-runs')}'"
        )
    )
    assert runs[0]["release"] == live_release(host)["release"]
    assert isinstance(runs[0]["notes"], int)  # it reached the database too
    assert not running(host, "app-job-count-notes")
    assert "app-job-count-notes" not in host.check_output("docker ps -a --format '{{.Names}}'")


@pytest.fixture(scope="module")
def lingering(host: testinfra.host.Host) -> Iterator[dict[str, Any]]:
    """The job that outlasts its timeout, started, then started again while it runs: what was
    seen while it ran, and how it ended."""
    host.check_output(f"systemctl reset-failed {LINGER}.service || true")
    host.check_output(f"systemctl start --no-block {LINGER}.service")
    wait_until(lambda: running(host, LINGER_CONTAINER), 30)
    started = time.monotonic()
    seen: dict[str, Any] = {
        "container": host.docker(LINGER_CONTAINER).inspect(),
        "web": host.docker(live_release(host)["live"]).inspect(),
        "invocation": unit(host, f"{LINGER}.service", "InvocationID")["InvocationID"],
    }
    host.check_output(f"systemctl start --no-block {LINGER}.service")
    time.sleep(2)
    seen["invocation_after_second_start"] = unit(host, f"{LINGER}.service", "InvocationID")[
        "InvocationID"
    ]
    seen["containers_after_second_start"] = [
        name
        for name in host.check_output("docker ps -a --format '{{.Names}}'").split()
        if name.startswith(LINGER_CONTAINER)
    ]
    # Past "activating" (its command) and "deactivating" (the container's removal).
    wait_until(
        lambda: (
            unit(host, f"{LINGER}.service", "ActiveState")["ActiveState"] in ("failed", "inactive")
        ),
        LINGER_TIMEOUT + 30,
    )
    seen["ended_after"] = time.monotonic() - started
    seen["end"] = unit(host, f"{LINGER}.service", "ActiveState", "Result")
    seen["left"] = host.check_output("docker ps -a --format '{{.Names}}'").split()
    yield seen
    host.check_output(f"systemctl reset-failed {LINGER}.service || true")


def test_a_job_runs_with_the_web_containers_image_limits_and_hardening(
    lingering: dict[str, Any],
) -> None:
    job, web = lingering["container"], lingering["web"]
    assert job["Image"] == web["Image"]
    for setting in SHARED_HOST_CONFIG:
        assert job["HostConfig"][setting] == web["HostConfig"][setting], setting
    assert set(job["NetworkSettings"]["Networks"]) == set(web["NetworkSettings"]["Networks"])
    assert job["Config"]["Labels"]["fastapi-deploy.job-of"] == web["Name"].lstrip("/")
    assert not job["HostConfig"]["PortBindings"]


def test_a_job_still_running_is_not_started_a_second_time(lingering: dict[str, Any]) -> None:
    assert lingering["invocation_after_second_start"] == lingering["invocation"]
    assert lingering["containers_after_second_start"] == [LINGER_CONTAINER]


def test_a_job_past_its_timeout_is_stopped_and_its_container_removed(
    lingering: dict[str, Any],
) -> None:
    assert lingering["end"] == {"ActiveState": "failed", "Result": "timeout"}
    assert lingering["ended_after"] < LINGER_TIMEOUT + 10, lingering["ended_after"]
    assert LINGER_CONTAINER not in lingering["left"]


def test_status_shows_a_jobs_failed_run_and_logs_show_its_journal(
    lingering: dict[str, Any],
) -> None:
    status = run_playbook(STATUS_PLAYBOOK, {})
    assert status.returncode == 0, status.stdout[-3000:]
    assert re.search(
        r"job linger: last run [^;]+: FAILED \(timeout\); next run \w+ 2099-01-01", status.stdout
    ), status.stdout[-3000:]
    assert re.search(r"job count-notes: last run [^;]+: succeeded; next run", status.stdout)
    logs = run_playbook(LOGS_PLAYBOOK, {"app_logs_of": ["jobs"], "app_logs_lines": 20})
    assert logs.returncode == 0, logs.stdout[-3000:]
    assert f"{LINGER}.service: Failed with result 'timeout'" in logs.stdout, logs.stdout[-3000:]


def test_a_job_no_longer_declared_is_unscheduled_by_the_next_run(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    jobs = inventory_vars["app_jobs"]
    kept = [job for job in jobs if job["name"] != "linger"]
    result = run_playbook(DEPLOY_PLAYBOOK, {"app_jobs": kept})
    try:
        assert result.returncode == 0, result.stdout[-3000:]
        assert not host.file(f"/etc/systemd/system/{LINGER}.timer").exists
        assert not host.file(f"/etc/systemd/system/{LINGER}.service").exists
        assert unit(host, f"{LINGER}.timer", "LoadState")["LoadState"] == "not-found"
        assert unit(host, f"{COUNT}.timer", "ActiveState")["ActiveState"] == "active"
    finally:
        # The scenario's jobs again, linger included.
        restored = run_playbook(DEPLOY_PLAYBOOK, {})
        assert restored.returncode == 0, restored.stdout[-3000:]
    assert unit(host, f"{LINGER}.timer", "ActiveState")["ActiveState"] == "active"
