"""Apps on a Docker Swarm: each app a service of the registry's image by digest, its replicas
spread over the nodes behind the edge proxy; a rolling deploy fails no request and ends on the
new digest on every replica; rollback.yml returns every replica to the previous digest, failing
no request, and waits for a lock another run holds; a release failing its health check is rolled
back by Swarm, the run fails naming the app, and no request fails. logs.yml shows every
replica's lines, status.yml each replica's node and digest, run.yml a command's output from the
live image on the swarm's network. The app's process (molecule/swarm-apps-vars.yml: a heartbeat
logging its release and the note count it reads from the database) is a service of its own,
with the web service's environment, networks, limits and hardening and no port: a deploy moves
it to the new digest, a rollback back, a failed deploy leaves it on the live release, status.yml
lists it, and a deploy without it removes its service.

Only the swarm scenario runs this module (conftest: `runs_here`). The edge is the manager
(fd-swarm-server); the registry (fd-swarm-registry) holds the demo app as demo/app:1.0 (the
scenario's image) and demo/app:1.1 (another digest). At the end the scenario's image is deployed
again.
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra
from conftest import (
    APP_STATE_FILE,
    REPOSITORY,
    Response,
    Site,
    assert_every_client_served,
    load_through_proxy,
    registry_digest,
    run_playbook,
    swarm_replicas,
)

from harness.common import (
    DEPLOY_PLAYBOOK,
    LOGS_PLAYBOOK,
    ROLLBACK_PLAYBOOK,
    RUN_PLAYBOOK,
    STATUS_PLAYBOOK,
    wait_until,
)

testinfra_hosts = ["ansible://swarm_edge"]

SERVICE = "app"
# The app's deploy lock on the first manager (roles/app/vars/main.yml: app_lock_path).
LOCK = f"{posixpath.dirname(APP_STATE_FILE)}/{SERVICE}.deploy.lock"
# The service of the app's process, `<app>-<process>`.
PROCESS = f"{SERVICE}-heartbeat"
# What the process' service shares with the web service's, from Swarm's view of each.
SHARED_CONTAINER_SPEC = ("Image", "Env", "ReadOnly", "Mounts", "CapabilityDrop")
SHARED_TASK_TEMPLATE = ("Resources", "Networks", "Placement")


def replicas(host: testinfra.host.Host) -> list[tuple[str, str]]:
    """(node, image) of each replica of the app Swarm runs now."""
    return swarm_replicas(host, SERVICE)


def deploy(**extra_vars: object) -> tuple[int, str]:
    return playbook(DEPLOY_PLAYBOOK, **extra_vars)


def playbook(path: str, **extra_vars: object) -> tuple[int, str]:
    """A run of the playbook, its output's whitespace runs made single spaces (the callback
    wraps long lines)."""
    started = time.monotonic()
    result = run_playbook(path, extra_vars)
    print(f"{path}: {time.monotonic() - started:.1f} s")
    return result.returncode, re.sub(r"\s+", " ", result.stdout + result.stderr)


def service_spec(host: testinfra.host.Host, service: str) -> dict[str, Any]:
    return json.loads(host.check_output(f"docker service inspect {service}"))[0]["Spec"]


def images(host: testinfra.host.Host, service: str) -> list[str]:
    return [image for _, image in swarm_replicas(host, service)]


@pytest.fixture(scope="module")
def status_output() -> str:
    """One run of status.yml, read by the tests of what it reports."""
    status, output = playbook(STATUS_PLAYBOOK)
    assert status == 0, output[-3000:]
    return output


@pytest.fixture(scope="module", autouse=True)
def scenario_image_at_the_end() -> Iterator[None]:
    """Ends on the scenario's own image and settings, as the swarm was before."""
    yield
    status, output = deploy()
    assert status == 0, output[-3000:]


def test_the_app_runs_as_replicas_of_the_registry_image_by_digest_on_different_nodes(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    running = replicas(host)
    image = f"{REPOSITORY}@{registry_digest(inventory_vars, '1.0')}"
    assert [found for _, found in running] == [image] * int(inventory_vars["app_replicas"])
    assert len({node for node, _ in running}) == len(running), running


def test_the_edge_serves_the_app_over_https_with_a_certificate_from_the_acme_ca(
    https_get: Callable[..., Response],
) -> None:
    # curl checks the chain against Pebble's root: the edge got its certificate over ACME.
    assert https_get("/health").status == 200


def test_the_apps_trust_forwarded_headers_from_the_edge_proxy_alone(
    https_get: Callable[..., Response], client_address: str
) -> None:
    seen = https_get("/request-info", {"X-Forwarded-For": "203.0.113.9"}).json()
    assert (seen["client"], seen["scheme"]) == (client_address, "https"), seen


def test_a_rolling_deploy_fails_no_request_and_ends_on_the_new_digest_on_every_replica(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], site: Site, pebble_root: str
) -> None:
    new = f"{REPOSITORY}@{registry_digest(inventory_vars, '1.1')}"
    with load_through_proxy(site, pebble_root) as load:
        status, output = deploy(app_image=f"{REPOSITORY}:1.1")
        assert status == 0, output[-3000:]
    print(f"rolling deploy under load: {load.summary()}")
    assert_every_client_served(load)
    assert [image for _, image in replicas(host)] == [new] * int(inventory_vars["app_replicas"])


def test_the_apps_process_runs_as_its_own_service_on_the_new_digest_after_a_deploy(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    # After the rolling deploy above (1.0 to 1.1).
    assert images(host, PROCESS) == [f"{REPOSITORY}@{registry_digest(inventory_vars, '1.1')}"]
    env = service_spec(host, SERVICE)["TaskTemplate"]["ContainerSpec"]["Env"]
    release = next(entry.split("=", 1)[1] for entry in env if entry.startswith("APP_RELEASE="))
    # Its heartbeat: the new release's, with the note count it read over the database's network.
    said = re.compile(rf"heartbeat {re.escape(release)} notes \d+$", re.MULTILINE)
    wait_until(
        lambda: said.search(host.check_output(f"docker service logs --raw {PROCESS}")) is not None,
        timeout=15,
        interval=1,
        diagnose=lambda: host.check_output(f"docker service logs --tail 5 {PROCESS}"),
    )


def test_the_process_service_shares_the_web_services_settings_with_no_port_and_its_own_stop(
    host: testinfra.host.Host,
) -> None:
    web, process = (service_spec(host, name)["TaskTemplate"] for name in (SERVICE, PROCESS))
    for key in SHARED_CONTAINER_SPEC:
        assert process["ContainerSpec"][key] == web["ContainerSpec"][key], key
    for key in SHARED_TASK_TEMPLATE:
        assert process[key] == web[key], key
    assert not service_spec(host, PROCESS).get("EndpointSpec", {}).get("Ports")
    assert process["RestartPolicy"]["Condition"] == "on-failure"
    # Its stop_timeout (molecule/swarm-apps-vars.yml), in nanoseconds.
    assert process["ContainerSpec"]["StopGracePeriod"] == 5 * 10**9


def test_a_rollback_returns_every_replica_to_the_previous_digest_and_fails_no_request(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], site: Site, pebble_root: str
) -> None:
    # After the rolling deploy above (1.0 to 1.1): the service's previous release is 1.0's.
    previous = f"{REPOSITORY}@{registry_digest(inventory_vars, '1.0')}"
    assert previous not in [image for _, image in replicas(host)]
    with load_through_proxy(site, pebble_root) as load:
        status, output = playbook(ROLLBACK_PLAYBOOK)
        assert status == 0, output[-3000:]
    print(f"rollback under load: {load.summary()}")
    assert_every_client_served(load)
    count = int(inventory_vars["app_replicas"])
    assert [image for _, image in replicas(host)] == [previous] * count


def test_a_rollback_moves_the_apps_process_back_to_the_previous_digest(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    # After the rollback above (1.1 back to 1.0).
    assert images(host, PROCESS) == [f"{REPOSITORY}@{registry_digest(inventory_vars, '1.0')}"]


def test_a_rollback_meeting_the_lock_of_another_run_fails_naming_it_and_changes_nothing(
    host: testinfra.host.Host,
) -> None:
    before = replicas(host)
    holder = {"operator": "first@ci", "action": "deploy", "release": "1.1", "since": "now"}
    host.check_output(f"mkdir -p {LOCK} && echo '{json.dumps(holder)}' > {LOCK}/holder.json")
    try:
        status, output = playbook(ROLLBACK_PLAYBOOK, app_deploy_lock_timeout=1)
        assert host.file(LOCK).is_directory  # a refused run leaves the other's lock alone
    finally:
        host.check_output(f"rm -rf {LOCK}")
    assert status != 0
    said = f"the deploy lock {LOCK} is held by first@ci (deploy of release 1.1,"
    assert said in output, output[-3000:]
    assert replicas(host) == before


def test_the_logs_show_the_lines_of_every_replica_on_its_node(host: testinfra.host.Host) -> None:
    running = host.check_output(
        f"docker service ps {SERVICE} --filter desired-state=running"
        " --format '{{.Name}}.{{.ID}}@{{.Node}}'"
    ).split()
    status, output = playbook(LOGS_PLAYBOOK, app_logs_lines=3)
    assert status == 0, output[-3000:]
    assert len({name.split("@")[1] for name in running}) > 1, running
    for replica in running:
        assert f"Z {replica} | " in output, (replica, output[-3000:])


def test_the_status_lists_each_replica_with_its_node_and_digest(
    host: testinfra.host.Host, status_output: str
) -> None:
    for node, image in replicas(host):
        said = rf"on {re.escape(node)}: running since \S+, release \S+, {re.escape(image)}"
        line = rf"replica \d+ {said}"
        assert re.search(line, status_output), (node, status_output[-3000:])


def test_the_status_lists_the_process_service_with_its_replica_node_and_digest(
    host: testinfra.host.Host, status_output: str
) -> None:
    ((node, image),) = swarm_replicas(host, PROCESS)
    said = (
        rf"process {PROCESS}: service running {re.escape(image)}, 1 of 1 replicas running.*"
        rf"replica 1 on {re.escape(node)}: running since \S+, release \S+, {re.escape(image)}"
    )
    assert re.search(said, status_output), status_output[-3000:]


def test_a_one_off_command_prints_from_the_live_image_with_the_apps_environment_on_its_network(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    spec = json.loads(host.check_output(f"docker service inspect {SERVICE}"))[0]["Spec"]
    env = spec["TaskTemplate"]["ContainerSpec"]["Env"]
    live = next(entry.split("=", 1)[1] for entry in env if entry.startswith("APP_RELEASE="))
    # The replicas' addresses through Swarm's DNS: only on the swarm's network.
    program = (
        "import os, socket; print('run:', os.environ['APP_RELEASE'],"
        f" len(socket.gethostbyname_ex('tasks.{SERVICE}')[2]))"
    )
    status, output = playbook(RUN_PLAYBOOK, app_run_command=["python", "-c", program])
    assert status == 0, output[-3000:]
    assert f"run: {live} {inventory_vars['app_replicas']}" in output, output[-3000:]


def test_a_release_failing_its_health_check_is_rolled_back_and_the_run_fails_naming_the_app(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], site: Site, pebble_root: str
) -> None:
    before = replicas(host)
    with load_through_proxy(site, pebble_root) as load:
        status, output = deploy(
            app_image=f"{REPOSITORY}:1.1", app_healthcheck_path="/no-such-health"
        )
    print(f"rolled-back deploy under load: {load.summary()}")
    assert status != 0
    assert f"the update of '{SERVICE}'" in output and "rollback_completed" in output, output[-3000:]
    assert_every_client_served(load)
    assert sorted(image for _, image in replicas(host)) == sorted(image for _, image in before)


def test_a_failed_deploy_leaves_the_apps_process_on_the_live_release(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    # After the rolled-back deploy of 1.1 above: the web service runs 1.0 again.
    live = f"{REPOSITORY}@{registry_digest(inventory_vars, '1.0')}"
    assert images(host, SERVICE) == [live] * int(inventory_vars["app_replicas"])
    assert images(host, PROCESS) == [live]


def test_a_process_no_longer_declared_has_its_service_removed_by_the_next_deploy(
    host: testinfra.host.Host,
) -> None:
    assert host.run(f"docker service inspect {PROCESS}").rc == 0
    status, output = deploy(app_processes=[])
    assert status == 0, output[-3000:]
    names = host.check_output("docker service ls --format '{{.Name}}'").split()
    assert SERVICE in names and PROCESS not in names, names
