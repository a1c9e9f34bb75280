"""Alerts (roles/alerts): the checker, run as its timer runs it, tells a webhook receiver on the
client container when an app stops (exactly one firing alert) and when it is back (exactly one
resolved); the same for a container crashing in a loop, for database dumps older than the limit
and for a full disk; a failed backup unit starts the checker itself; each run pings the
heartbeat URL; an alert the receiver missed waits in the spool and arrives once it is back; the
test playbook's alert arrives and the playbook shows each check's state. (A certificate near its
expiry: test_certificate_renewal.py, where a short-lived one is served.) (What status prints, the
same states, is the checker's --status: tests/roles/test_alerts_checker.py; a status run costs
this module's budget half a minute.)
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

import testinfra
from conftest import (
    ALERTS_UNIT,
    alerts_about,
    run_alert_checks,
    run_playbook,
)

from harness import alerts_receiver as alerts_receiver_in
from harness.common import wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

ALERTS_PLAYBOOK = "playbooks/alerts.yml"
DATABASE_PLAYBOOK = "playbooks/database.yml"
CONFIG = "/etc/fastapi-deploy/alerts/config.json"
CHECKER = "/usr/local/bin/fastapi-alerts"
SPOOL = "/var/lib/fastapi-deploy/alerts/spool"
DUMPS = "/var/backups/postgres"
BACKUP_UNIT = "postgres-backup.service"
# The second app's release history (molecule/default/host_vars: fastapi_apps).
HELLO_RELEASES = "/var/lib/fastapi-app/hello/releases.json"


def test_a_stopped_app_fires_once_and_resolves_once_when_started_again(
    host: testinfra.host.Host,
    fresh_alerts: Callable[[], list[dict[str, Any]]],
    app_container: str,
    served: Callable[[], bool],
) -> None:
    check = f"container:{app_container}"
    host.check_output(f"docker stop {app_container}")
    try:
        run_alert_checks(host)
        firing = alerts_about(fresh_alerts(), "firing", check)
        assert len(firing) == 1, fresh_alerts()
        assert app_container in firing[0]["summary"]
        assert "NOT running" in firing[0]["summary"]
        assert len(alerts_about(fresh_alerts(), "firing", "health:app")) == 1, fresh_alerts()
    finally:
        host.check_output(f"docker start {app_container}")
        wait_until(served, 60)
    run_alert_checks(host)
    run_alert_checks(host)
    assert len(alerts_about(fresh_alerts(), "resolved", check)) == 1, fresh_alerts()
    assert len(alerts_about(fresh_alerts(), "resolved", "health:app")) == 1, fresh_alerts()
    assert len(alerts_about(fresh_alerts(), "firing", check)) == 1, fresh_alerts()


def test_a_crash_loop_fires_once_and_resolves_once_when_it_stops(
    host: testinfra.host.Host, fresh_alerts: Callable[[], list[dict[str, Any]]]
) -> None:
    container = json.loads(host.file(HELLO_RELEASES).content_string)["live"]
    check = f"container:{container}"

    def restarts() -> int:
        return int(
            host.check_output(f"docker inspect --format '{{{{.RestartCount}}}}' {container}")
        )

    def main_process() -> int:
        """Its main process, once it runs (0 while Docker is restarting it)."""
        state = host.check_output(
            f"docker inspect --format '{{{{.State.Status}}}} {{{{.State.Pid}}}}' {container}"
        ).split()
        return int(state[1]) if state[0] == "running" else 0

    run_alert_checks(host)
    first = restarts()
    # Its main process killed (a crash: `docker kill` would be a stop Docker does not undo) one
    # more time than alerts_restart_limit (3) allows between two runs; Docker starts it again
    # each time (its restart policy).
    for count in range(first + 1, first + 5):
        wait_until(lambda: main_process() > 0, 30)
        host.check_output(f"kill -9 {main_process()}")
        wait_until(lambda count=count: restarts() >= count and main_process() > 0, 30)
    run_alert_checks(host)
    firing = alerts_about(fresh_alerts(), "firing", check)
    assert len(firing) == 1, fresh_alerts()
    assert "4 restarts since the last check" in firing[0]["summary"]
    run_alert_checks(host)  # no restart since
    assert len(alerts_about(fresh_alerts(), "resolved", check)) == 1, fresh_alerts()
    assert len(alerts_about(fresh_alerts(), "firing", check)) == 1, fresh_alerts()


def test_dumps_older_than_the_limit_fire_once_and_resolve_once_with_a_new_one(
    host: testinfra.host.Host, fresh_alerts: Callable[[], list[dict[str, Any]]]
) -> None:
    check = "backup:database dumps"
    # Every dump there is, and one more (the scenario may have none), made 30 hours old; the
    # times as they were put back afterwards.
    times = host.check_output(f"find {DUMPS} -maxdepth 1 -printf '%T@ %p\\n'").splitlines()
    stand_in = f"{DUMPS}/alerts-test.dump"
    try:
        host.check_output(f"touch {stand_in} && touch -d '30 hours ago' {DUMPS}/*")
        run_alert_checks(host)
        firing = alerts_about(fresh_alerts(), "firing", check)
        assert len(firing) == 1, fresh_alerts()
        assert "limit 26 h" in firing[0]["summary"]
        host.check_output(f"touch {stand_in}")  # a new dump
        run_alert_checks(host)
        run_alert_checks(host)
        assert len(alerts_about(fresh_alerts(), "resolved", check)) == 1, fresh_alerts()
        assert len(alerts_about(fresh_alerts(), "firing", check)) == 1, fresh_alerts()
    finally:
        host.run(f"rm -f {stand_in}")
        for line in times:
            when, path = line.split(" ", 1)
            host.run(f"touch -d @{when} {shlex.quote(path)}")


def test_a_failed_backup_unit_fires_at_once_and_resolves_once_a_backup_succeeds(
    host: testinfra.host.Host, fresh_alerts: Callable[[], list[dict[str, Any]]]
) -> None:
    """The unit's OnFailure= starts the checker: the alert leaves without waiting for the timer
    (stopped here)."""
    unit = BACKUP_UNIT
    check = f"unit:{unit}"
    # A paused database container: the dump fails.
    host.check_output("docker pause postgres")
    try:
        failed = host.run(f"systemctl start {unit}")
    finally:
        host.check_output("docker unpause postgres")
    assert failed.rc != 0, failed.stdout
    wait_until(lambda: len(alerts_about(fresh_alerts(), "firing", check)) == 1, 60)
    host.check_output(f"systemctl start {unit}")
    run_alert_checks(host)
    assert len(alerts_about(fresh_alerts(), "resolved", check)) == 1, fresh_alerts()
    assert len(alerts_about(fresh_alerts(), "firing", check)) == 1, fresh_alerts()


def test_a_full_disk_fires_once_and_resolves_once_space_is_freed(
    host: testinfra.host.Host, fresh_alerts: Callable[[], list[dict[str, Any]]]
) -> None:
    """A small file system on one of alerts_disk_paths (the scenario's /mnt/alerts-disk),
    filled by a file and freed by its removal."""
    disk = "/mnt/alerts-disk"
    check = f"disk:{disk}"
    host.check_output(f"mkdir -p {disk} && mount -t tmpfs -o size=4m tmpfs {disk}")
    try:
        run_alert_checks(host)
        assert alerts_about(fresh_alerts(), "firing", check) == [], fresh_alerts()
        host.run(f"dd if=/dev/zero of={disk}/filler bs=64k count=1000")  # until it is full
        run_alert_checks(host)
        firing = alerts_about(fresh_alerts(), "firing", check)
        assert len(firing) == 1, fresh_alerts()
        assert "0% of the space" in firing[0]["summary"]
        host.check_output(f"rm {disk}/filler")
        run_alert_checks(host)
        run_alert_checks(host)
        assert len(alerts_about(fresh_alerts(), "resolved", check)) == 1, fresh_alerts()
        assert len(alerts_about(fresh_alerts(), "firing", check)) == 1, fresh_alerts()
    finally:
        host.run(f"umount {disk}")


def test_each_run_pings_the_heartbeat_url_once(
    host: testinfra.host.Host,
    alerts_receiver: str,
    fresh_alerts: Callable[[], list[dict[str, Any]]],
) -> None:
    def pings() -> list[str]:
        return alerts_receiver_in.heartbeats(alerts_receiver)

    run_alert_checks(host)
    run_alert_checks(host)
    assert pings() == ["/heartbeat", "/heartbeat"]
    host.check_output(f"{CHECKER} --status")  # asking is not a run
    assert len(pings()) == 2


def test_an_alert_the_receiver_missed_arrives_once_it_is_back(
    host: testinfra.host.Host,
    alerts_receiver: str,
    fresh_alerts: Callable[[], list[dict[str, Any]]],
) -> None:
    alerts_receiver_in.stop(alerts_receiver)
    try:
        missed = host.run(f"{CHECKER} --test")
        assert missed.rc != 0, missed.stdout
        assert "webhook sender" in missed.stderr
        assert len(host.check_output(f"ls {SPOOL}").split()) == 1
    finally:
        alerts_receiver_in.start(alerts_receiver)
    assert run_alert_checks(host).rc == 0
    assert [alert["status"] for alert in fresh_alerts()] == ["test"]
    assert host.check_output(f"ls {SPOOL}") == ""


def test_the_test_playbook_sends_a_test_alert_and_shows_each_check(
    fresh_alerts: Callable[[], list[dict[str, Any]]], inventory_vars: dict[str, Any]
) -> None:
    result = run_playbook(ALERTS_PLAYBOOK, {})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert [alert["status"] for alert in fresh_alerts()] == ["test"]
    domain = inventory_vars["proxy_domains"][0]
    assert f"ok: certificate:{domain}" in output
    assert "ok: health:app" in output
    assert "test alert: sent to every sender" in output


def test_turning_the_alerts_off_stops_the_checker_and_takes_its_senders_away(
    host: testinfra.host.Host,
) -> None:
    """alerts_enabled false: the timer stops and the checker goes with its configuration (the
    senders' URLs and tokens). Turned on again, the checks run again."""
    result = run_playbook(DATABASE_PLAYBOOK, {"alerts_enabled": False})
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert not host.file(CONFIG).exists
        assert not host.file(CHECKER).exists
        assert not host.file(f"/etc/systemd/system/{ALERTS_UNIT}.timer").exists
        assert host.run(f"systemctl show -p OnFailure {BACKUP_UNIT}").stdout.strip() == "OnFailure="
        assert host.run(f"systemctl is-active {ALERTS_UNIT}.timer").stdout.strip() != "active"
    finally:
        again = run_playbook(DATABASE_PLAYBOOK, {})
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert host.service(f"{ALERTS_UNIT}.timer").is_running
    on_failure = host.check_output(f"systemctl show -p OnFailure {BACKUP_UNIT}")
    assert on_failure == f"OnFailure={ALERTS_UNIT}.service"
