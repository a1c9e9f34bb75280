"""Alerts (roles/alerts): the checker, run as its timer runs it, tells a webhook receiver on the
client container when an app stops (exactly one firing alert) and when it is back (exactly one
resolved); the same for a container crashing in a loop and for database dumps older than the
limit; an alert the receiver missed waits in the spool and arrives once it is back; the test
playbook's alert arrives and the playbook shows each check's state. (What status prints, the
same states, is the checker's --status: tests/roles/test_alerts_checker.py; a status run costs
this module's budget half a minute.)
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra
from conftest import run_playbook, scenario_name

from harness.common import docker, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

ALERTS_PLAYBOOK = "playbooks/alerts.yml"
DATABASE_PLAYBOOK = "playbooks/database.yml"
CONFIG = "/etc/fastapi-deploy/alerts/config.json"
UNIT = "fastapi-alerts"
CHECKER = "/usr/local/bin/fastapi-alerts"
SPOOL = "/var/lib/fastapi-deploy/alerts/spool"
# Where the scenario's alerts_cafile points: Pebble's issuing root, which changes with each
# Pebble start, so the tests put it there.
SERVER_CA = "/usr/local/share/pebble-root.pem"
DUMPS = "/var/backups/postgres"
# The second app's release history (molecule/default/host_vars: fastapi_apps).
HELLO_RELEASES = "/var/lib/fastapi-app/hello/releases.json"
# The receiver on the client (the scenario's alerts_senders: port 9099): each POST's body, one
# line each.
RECEIVED = "/tmp/alerts-received.jsonl"
RECEIVER_PID = "/tmp/alerts-receiver.pid"
RECEIVER = f"""
import http.server

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open({RECEIVED!r}, "ab") as received:
            received.write(body.replace(b"\\n", b" ") + b"\\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("0.0.0.0", 9099), Receiver).serve_forever()
"""


def client_container() -> str:
    return f"fd-{scenario_name()}-client"


def start_receiver(client: testinfra.host.Host) -> None:
    docker(
        "exec", "-d", client_container(), "sh", "-c",
        f"echo $$ > {RECEIVER_PID}; exec python3 -c {shlex.quote(RECEIVER)}",
    )  # fmt: skip
    probe = "import socket; socket.create_connection(('127.0.0.1', 9099), timeout=2)"
    wait_until(lambda: client.run(f'python3 -c "{probe}"').rc == 0, 15)


def stop_receiver(client: testinfra.host.Host) -> None:
    client.run(f"kill $(cat {RECEIVER_PID}) && rm -f {RECEIVER_PID}")


def received(client: testinfra.host.Host) -> list[dict[str, Any]]:
    content = client.run(f"cat {RECEIVED}").stdout
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def run_checks(host: testinfra.host.Host) -> testinfra.backend.base.CommandResult:
    """One run of the checker, as its timer starts it."""
    return host.run(f"systemctl start {UNIT}.service")


@pytest.fixture(scope="module")
def receiver(
    host: testinfra.host.Host, client: testinfra.host.Host, pebble_root: str
) -> Iterator[testinfra.host.Host]:
    """The receiver running and empty, the checker trusting Pebble's root, and the timer stopped
    (each test runs the checker itself). What the checker sent before is delivered and dropped
    first. Afterwards the server is as it was: the timer running, no Pebble root."""
    host.check_output(f"systemctl stop {UNIT}.timer")
    root = client.check_output(f"cat {pebble_root}")
    host.check_output(f"printf '%s\\n' {shlex.quote(root)} > {SERVER_CA}")
    start_receiver(client)
    try:
        run_checks(host)
        client.check_output(f": > {RECEIVED}")
        yield client
    finally:
        stop_receiver(client)
        client.run(f"rm -f {RECEIVED}")
        host.run(f"rm -f {SERVER_CA}")
        host.check_output(f"systemctl start {UNIT}.timer")


@pytest.fixture
def fresh(receiver: testinfra.host.Host) -> Callable[[], list[dict[str, Any]]]:
    """What the receiver gets from now on."""
    receiver.check_output(f": > {RECEIVED}")
    return lambda: received(receiver)


def about(alerts: list[dict[str, Any]], status: str, check: str) -> list[dict[str, Any]]:
    return [alert for alert in alerts if alert["status"] == status and alert["check"] == check]


def test_a_stopped_app_fires_once_and_resolves_once_when_started_again(
    host: testinfra.host.Host,
    fresh: Callable[[], list[dict[str, Any]]],
    app_container: str,
    served: Callable[[], bool],
) -> None:
    check = f"container:{app_container}"
    host.check_output(f"docker stop {app_container}")
    try:
        run_checks(host)
        firing = about(fresh(), "firing", check)
        assert len(firing) == 1, fresh()
        assert app_container in firing[0]["summary"]
        assert "NOT running" in firing[0]["summary"]
        assert len(about(fresh(), "firing", "health:app")) == 1, fresh()
    finally:
        host.check_output(f"docker start {app_container}")
        wait_until(served, 60)
    run_checks(host)
    run_checks(host)
    assert len(about(fresh(), "resolved", check)) == 1, fresh()
    assert len(about(fresh(), "resolved", "health:app")) == 1, fresh()
    assert len(about(fresh(), "firing", check)) == 1, fresh()


def test_a_crash_loop_fires_once_and_resolves_once_when_it_stops(
    host: testinfra.host.Host, fresh: Callable[[], list[dict[str, Any]]]
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

    run_checks(host)
    first = restarts()
    # Its main process killed (a crash: `docker kill` would be a stop Docker does not undo) one
    # more time than alerts_restart_limit (3) allows between two runs; Docker starts it again
    # each time (its restart policy).
    for count in range(first + 1, first + 5):
        wait_until(lambda: main_process() > 0, 30)
        host.check_output(f"kill -9 {main_process()}")
        wait_until(lambda count=count: restarts() >= count and main_process() > 0, 30)
    run_checks(host)
    firing = about(fresh(), "firing", check)
    assert len(firing) == 1, fresh()
    assert "4 restarts since the last check" in firing[0]["summary"]
    run_checks(host)  # no restart since
    assert len(about(fresh(), "resolved", check)) == 1, fresh()
    assert len(about(fresh(), "firing", check)) == 1, fresh()


def test_dumps_older_than_the_limit_fire_once_and_resolve_once_with_a_new_one(
    host: testinfra.host.Host, fresh: Callable[[], list[dict[str, Any]]]
) -> None:
    check = "backup:database dumps"
    # Every dump there is, and one more (the scenario may have none), made 30 hours old; the
    # times as they were put back afterwards.
    times = host.check_output(f"find {DUMPS} -maxdepth 1 -printf '%T@ %p\\n'").splitlines()
    stand_in = f"{DUMPS}/alerts-test.dump"
    try:
        host.check_output(f"touch {stand_in} && touch -d '30 hours ago' {DUMPS}/*")
        run_checks(host)
        firing = about(fresh(), "firing", check)
        assert len(firing) == 1, fresh()
        assert "limit 26 h" in firing[0]["summary"]
        host.check_output(f"touch {stand_in}")  # a new dump
        run_checks(host)
        run_checks(host)
        assert len(about(fresh(), "resolved", check)) == 1, fresh()
        assert len(about(fresh(), "firing", check)) == 1, fresh()
    finally:
        host.run(f"rm -f {stand_in}")
        for line in times:
            when, path = line.split(" ", 1)
            host.run(f"touch -d @{when} {shlex.quote(path)}")


def test_an_alert_the_receiver_missed_arrives_once_it_is_back(
    host: testinfra.host.Host,
    receiver: testinfra.host.Host,
    fresh: Callable[[], list[dict[str, Any]]],
) -> None:
    stop_receiver(receiver)
    try:
        missed = host.run(f"{CHECKER} --test")
        assert missed.rc != 0, missed.stdout
        assert "webhook sender" in missed.stderr
        assert len(host.check_output(f"ls {SPOOL}").split()) == 1
    finally:
        start_receiver(receiver)
    assert run_checks(host).rc == 0
    assert [alert["status"] for alert in fresh()] == ["test"]
    assert host.check_output(f"ls {SPOOL}") == ""


def test_the_test_playbook_sends_a_test_alert_and_shows_each_check(
    fresh: Callable[[], list[dict[str, Any]]], inventory_vars: dict[str, Any]
) -> None:
    result = run_playbook(ALERTS_PLAYBOOK, {})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert [alert["status"] for alert in fresh()] == ["test"]
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
        assert not host.file(f"/etc/systemd/system/{UNIT}.timer").exists
        assert host.run(f"systemctl is-active {UNIT}.timer").stdout.strip() != "active"
    finally:
        again = run_playbook(DATABASE_PLAYBOOK, {})
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert host.service(f"{UNIT}.timer").is_running
