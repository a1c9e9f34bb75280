"""Day-2 operations on the converged server, run as an operator runs them: the logs, a one-off
command, the status report, and the deploy lock with its audit log."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import testinfra
from conftest import (
    Site,
    assert_every_client_served,
    live_release,
    load_through_proxy,
    run_playbook,
)

from harness.common import (
    DEPLOY_PLAYBOOK,
    LOGS_PLAYBOOK,
    RUN_PLAYBOOK,
    STATUS_PLAYBOOK,
    role_defaults,
    wait_until,
)

testinfra_hosts = ["ansible://fastapi_servers"]

APP_DEFAULTS = role_defaults("app")
LOCK = f"{Path(APP_DEFAULTS['app_state_file']).parent}/app.deploy.lock"
AUDIT_LOG = APP_DEFAULTS["app_audit_log"]
# Keeps a deploy inside its lock long enough for a second one to meet it.
SLOW_PRESTART = ["python", "-c", "import time; time.sleep(20)"]


def output_of(result: CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def release_containers(host: testinfra.host.Host) -> list[str]:
    return host.check_output("docker ps -a --format '{{.Names}}'").split()


def audit_entries(host: testinfra.host.Host) -> list[dict[str, str]]:
    return [json.loads(line) for line in host.file(AUDIT_LOG).content_string.splitlines()]


@pytest.fixture(scope="module", autouse=True)
def scenario_release_at_the_end(host: testinfra.host.Host) -> Iterator[None]:
    """Ends on the scenario's own release, as the server was before. The module's deploys with
    settings of their own name their release; where the release live at the start is live again
    and no lock is left, a deploy with the scenario's settings made it so (the broken lock's),
    and the same deploy again would change nothing."""
    before = live_release(host)["release"]
    yield
    if live_release(host)["release"] == before and not host.file(LOCK).exists:
        return
    result = run_playbook(DEPLOY_PLAYBOOK, {"app_deploy_lock_break": True})
    assert result.returncode == 0, result.stdout[-3000:]


def request_marked(client: testinfra.host.Host, site: Site, pebble_root: str) -> str:
    """A request through the proxy whose query string is new; returns that query string."""
    query = f"marker={uuid.uuid4().hex}"
    client.check_output(
        f"curl -fsS -o /dev/null --cacert {pebble_root} '{site.url('/health')}?{query}'"
    )
    return query


def test_logs_show_a_request_the_test_made(
    client: testinfra.host.Host, site: Site, pebble_root: str
) -> None:
    query = request_marked(client, site, pebble_root)
    result = run_playbook(LOGS_PLAYBOOK, {"app_logs_lines": 20})
    assert result.returncode == 0, output_of(result)[-3000:]
    assert query in result.stdout
    assert "live: app-" in result.stdout
    assert "proxy: proxy" in result.stdout


def test_logs_since_a_time_leave_older_lines_out(
    client: testinfra.host.Host, site: Site, pebble_root: str
) -> None:
    query = request_marked(client, site, pebble_root)
    time.sleep(3)
    result = run_playbook(LOGS_PLAYBOOK, {"app_logs_since": "2s", "app_logs_of": ["live"]})
    assert result.returncode == 0, output_of(result)[-3000:]
    assert "live: app-" in result.stdout
    assert query not in result.stdout
    assert "proxy: proxy" not in result.stdout


def test_one_off_command_shows_its_output_and_exit_status_and_leaves_no_container(
    host: testinfra.host.Host,
) -> None:
    live = live_release(host)
    started = host.docker(live["live"]).inspect()["State"]["StartedAt"]
    marker = uuid.uuid4().hex
    command = [
        "python", "-c",
        f"import os, sys; print('{marker}', os.environ['APP_RELEASE']); sys.exit(3)",
    ]  # fmt: skip
    result = run_playbook(RUN_PLAYBOOK, {"app_run_command": command})
    assert result.returncode != 0
    assert f"{marker} {live['release']}" in result.stdout
    assert "exited with status 3" in output_of(result)
    assert not [name for name in release_containers(host) if "-run-" in name]
    assert live_release(host) == live
    assert host.docker(live["live"]).inspect()["State"]["StartedAt"] == started


def test_one_off_command_that_succeeds_succeeds(host: testinfra.host.Host) -> None:
    result = run_playbook(
        RUN_PLAYBOOK, {"app_run_command": ["python", "-c", "print('fine' + 'print')"]}
    )
    assert result.returncode == 0, output_of(result)[-3000:]
    assert "fineprint" in result.stdout
    assert not [name for name in release_containers(host) if "-run-" in name]


def test_status_names_the_live_release_and_the_certificate_days_left(
    host: testinfra.host.Host,
) -> None:
    live = live_release(host)
    result = run_playbook(STATUS_PLAYBOOK, {})
    assert result.returncode == 0, output_of(result)[-3000:]
    out = re.sub(r"\s+", " ", result.stdout)
    assert f"live: release {live['release']} ({live['live']}), running since" in out
    assert "health healthy, restarts 0" in out
    certificate = r"certificate of app\.example\.test: issued by .*?Pebble.*?, (\d+) days left"
    days = re.search(certificate, out)
    assert days, out[-3000:]
    assert int(days.group(1)) > 0
    assert "maintenance: off" in out
    assert re.search(r"docker: engine \d+\.\d+", out)
    assert "changed=0" in out


def test_a_second_deploy_meeting_the_lock_fails_naming_its_holder_and_the_first_succeeds(
    host: testinfra.host.Host, site: Site, pebble_root: str
) -> None:
    results: dict[str, CompletedProcess[str]] = {}

    def first_deploy() -> None:
        results["first"] = run_playbook(
            DEPLOY_PLAYBOOK,
            {"app_release": "locked", "app_prestart_command": SLOW_PRESTART,
             "app_deploy_operator": "first@ci"},
        )  # fmt: skip

    with load_through_proxy(site, pebble_root) as load:
        first = threading.Thread(target=first_deploy)
        first.start()
        wait_until(lambda: host.file(LOCK).is_directory, 120)
        second = run_playbook(
            DEPLOY_PLAYBOOK, {"app_release": "second", "app_deploy_lock_timeout": 4}
        )
        first.join(600)
    print(f"deploys meeting at the lock, under load: {load.summary()}")
    assert second.returncode != 0
    assert "is held by first@ci (deploy of release locked, since" in output_of(second)
    assert results["first"].returncode == 0, output_of(results["first"])[-3000:]
    assert_every_client_served(load)
    assert live_release(host)["release"] == "locked"
    assert not host.file(LOCK).exists


def test_every_deploy_is_in_the_audit_log_with_who_what_and_the_result(
    host: testinfra.host.Host,
) -> None:
    entry = [e for e in audit_entries(host) if e["release"] == "locked"][-1]
    assert entry["operator"] == "first@ci"
    assert entry["action"] == "deploy"
    assert entry["result"] == "deployed"
    assert entry["container"] == live_release(host)["live"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"])


def test_a_lock_left_by_a_killed_run_stops_deploys_until_it_is_broken(
    host: testinfra.host.Host,
) -> None:
    holder = {"operator": "ghost@killed", "action": "deploy", "release": "x", "since": "then"}
    host.check_output(f"mkdir -p {LOCK}")
    host.check_output(f"echo '{json.dumps(holder)}' > {LOCK}/holder.json")
    refused = run_playbook(DEPLOY_PLAYBOOK, {"app_deploy_lock_timeout": 2})
    assert refused.returncode != 0
    assert "held by ghost@killed" in output_of(refused)
    assert "app_deploy_lock_break=true" in output_of(refused)
    assert host.file(LOCK).is_directory  # a refused run leaves the other's lock alone
    broken = run_playbook(DEPLOY_PLAYBOOK, {"app_deploy_lock_break": True})
    assert broken.returncode == 0, output_of(broken)[-3000:]
    assert not host.file(LOCK).exists
