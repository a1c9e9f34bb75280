"""A prebuilt image from a private registry: the release is the image's digest, a moved tag is a
new release deployed without a failed request, rollback needs no registry, and a refused login,
a missing tag or an unreachable registry stop the deploy before anything switches.

Only the scenarios whose server deploys from the harness's registry (`app_image` in its
host_vars) run this module (conftest: `runs_here`). The registry (fd-<scenario>-registry) holds
the demo app as demo/app:1.0 (the scenario's image) and demo/app:1.1 (the same app with one more
label: another digest); the tests move a tag of their own, `moving`, with skopeo inside the
registry container. At the end the scenario's own image is deployed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import testinfra
from conftest import (
    REPOSITORY,
    Response,
    Site,
    assert_every_client_served,
    host_listener,
    live_release,
    load_through_proxy,
    registry_credentials,
    registry_digest,
    registry_exec,
    run_playbook,
    scenario_name,
)

from harness.common import (
    DEPLOY_PLAYBOOK,
    ROLLBACK_PLAYBOOK,
    play_recap,
)

testinfra_hosts = ["ansible://fastapi_servers"]


def move_tag(inventory_vars: dict[str, Any], tag: str, to: str) -> None:
    """Points the tag at the image of another tag, as CI pushing a new build would."""
    registry_exec(
        "skopeo", "--insecure-policy", "copy", "--quiet",
        "--src-creds", registry_credentials(inventory_vars),
        "--dest-creds", registry_credentials(inventory_vars),
        f"docker://localhost:5000/demo/app:{to}", f"docker://localhost:5000/demo/app:{tag}",
    )  # fmt: skip


def has_image(host: testinfra.host.Host, reference: str) -> bool:
    return host.run(f"docker image inspect {reference}").rc == 0


def short(image_digest: str) -> str:
    """The release named after a digest: its first 12 hex digits."""
    return image_digest.removeprefix("sha256:")[:12]


def deploy(**extra_vars: object) -> tuple[int, str]:
    result = run_playbook(DEPLOY_PLAYBOOK, extra_vars)
    return result.returncode, result.stdout + result.stderr


def containers(host: testinfra.host.Host) -> str:
    return host.check_output("docker ps -a --format '{{.Names}} {{.State}}' | sort")


@pytest.fixture(scope="module", autouse=True)
def scenario_image_at_the_end() -> Iterator[None]:
    """Ends on the scenario's own image and settings, as the server was before."""
    yield
    status, output = deploy()
    assert status == 0, output[-3000:]


def test_release_is_named_by_the_digest_of_the_image_pulled(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], https_get: Callable[..., Response]
) -> None:
    pulled = registry_digest(inventory_vars, "1.0")
    state = live_release(host)
    assert state["release"] == short(pulled)
    assert state["image"] == f"{REPOSITORY}@{pulled}"
    assert https_get("/health").headers["x-app-release"] == short(pulled)
    # Kept on the server by digest, whatever the registry's tag does later.
    assert has_image(host, f"fastapi-app:{short(pulled)}")


def test_deploying_the_live_image_by_its_digest_changes_nothing(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    before = live_release(host)
    status, output = deploy(app_image=f"{REPOSITORY}@{registry_digest(inventory_vars, '1.0')}")
    assert status == 0, output[-3000:]
    assert "changed=0" in output, output[-3000:]
    assert live_release(host)["live"] == before["live"]


def assert_nothing_switched(host: testinfra.host.Host, before: dict[str, Any], seen: str) -> None:
    assert live_release(host) == before
    assert containers(host) == seen


def test_wrong_registry_password_fails_naming_the_login_and_switches_nothing(
    host: testinfra.host.Host,
) -> None:
    before, seen = live_release(host), containers(host)
    status, output = deploy(app_image=f"{REPOSITORY}:1.1", app_registry_password="not-the-password")
    assert status != 0
    assert "could not log in to the registry registry.example.test:5000 as deploy" in output
    assert "401" in output or "unauthorized" in output.lower()
    assert "not-the-password" not in output
    assert "the live release keeps serving" in output
    assert_nothing_switched(host, before, seen)


def test_missing_tag_fails_naming_the_image_and_switches_nothing(
    host: testinfra.host.Host,
) -> None:
    before, seen = live_release(host), containers(host)
    status, output = deploy(app_image=f"{REPOSITORY}:no-such-tag")
    assert status != 0
    assert f"could not pull {REPOSITORY}:no-such-tag" in output
    assert "not found" in output or "manifest unknown" in output
    assert_nothing_switched(host, before, seen)


def test_unreachable_registry_fails_naming_it_and_switches_nothing(
    host: testinfra.host.Host,
) -> None:
    before, seen = live_release(host), containers(host)
    status, output = deploy(app_image="unreachable.example.test:5000/demo/app:1.0")
    assert status != 0
    assert "unreachable.example.test:5000" in output
    assert "no such host" in output
    assert_nothing_switched(host, before, seen)


# A registry that takes the connection and then never says a word: what a registry behind a hung
# load balancer or a dead backend looks like to Docker.
STALLED_PORT = 5999
HOLD_CONNECTIONS = (
    f"import socket; server = socket.create_server(('127.0.0.1', {STALLED_PORT})); held = []; "
    "exec('while True: held.append(server.accept())')"
)


@contextmanager
def stalled_registry(host: testinfra.host.Host) -> Iterator[str]:
    """A registry address on the server that accepts connections and never answers."""
    with host_listener(host, STALLED_PORT, "fd-stalled-registry", HOLD_CONNECTIONS) as port:
        yield f"127.0.0.1:{port}"


def test_registry_that_stops_answering_fails_in_time_naming_it_and_switches_nothing(
    host: testinfra.host.Host,
) -> None:
    before, seen = live_release(host), containers(host)
    with stalled_registry(host) as registry:
        started = time.monotonic()
        status, output = deploy(app_image=f"{registry}/demo/app:1.0", app_image_timeout=15)
        seconds = time.monotonic() - started
    print(f"deploy from a registry that never answers failed after {seconds:.1f} s")
    assert status != 0
    assert f"the registry {registry}" in output
    assert "timed out" in output.lower()
    # Bounded by app_image_timeout, not by the default 600 s nor by Docker's own patience.
    assert seconds < 180
    assert_nothing_switched(host, before, seen)


def test_image_without_the_apps_health_endpoint_fails_the_health_gate_and_switches_nothing(
    host: testinfra.host.Host, inventory_vars: dict[str, Any]
) -> None:
    """Stands for an image of another app: 1.1 pulled fine, but asked for a health path it
    does not serve, it never answers 200; the new container goes, the live one stays."""
    before = live_release(host)
    status, output = deploy(
        app_image=f"{REPOSITORY}:1.1", app_healthcheck_path="/no-such-health", app_healthy_timeout=8
    )
    assert status != 0
    assert f"release {short(registry_digest(inventory_vars, '1.1'))}" in output
    assert "did not answer 200 on /no-such-health" in output
    assert live_release(host) == before
    assert short(registry_digest(inventory_vars, "1.1")) not in containers(host)


def test_moved_tag_is_a_new_release_deployed_without_a_failed_request(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], site: Site, pebble_root: str
) -> None:
    move_tag(inventory_vars, "moving", "1.1")
    moved = registry_digest(inventory_vars, "moving")
    assert moved != registry_digest(inventory_vars, "1.0")
    with load_through_proxy(site, pebble_root) as load:
        status, output = deploy(app_image=f"{REPOSITORY}:moving")
        assert status == 0, output[-3000:]
    tasks = play_recap(output)[f"fd-{scenario_name()}-server"]["tasks"]
    print(f"deploy of a moved tag under load, {tasks} tasks: {load.summary()}")
    assert_every_client_served(load)
    assert load.report["last_release"] == short(moved)
    assert live_release(host)["image"] == f"{REPOSITORY}@{moved}"


def test_rollback_returns_to_an_image_whose_tag_moved_on_in_the_registry(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], https_get: Callable[..., Response]
) -> None:
    """Live: `moving` at 1.1 (the test before). The tag moves back to 1.0's image and is
    deployed; a rollback then returns to the 1.1 image that no tag of the deploys names any
    more, from the server's own copy: the registry is not asked."""
    earlier = live_release(host)
    move_tag(inventory_vars, "moving", "1.0")
    status, output = deploy(app_image=f"{REPOSITORY}:moving")
    assert status == 0, output[-3000:]
    assert live_release(host)["release"] == short(registry_digest(inventory_vars, "1.0"))
    assert has_image(host, f"fastapi-app:{earlier['release']}")
    # An app_image the server cannot reach: a rollback never asks the registry.
    result = run_playbook(ROLLBACK_PLAYBOOK, {"app_image": "unreachable.example.test:5000/x:1"})
    assert result.returncode == 0, result.stdout[-3000:]
    state = live_release(host)
    assert state["live"] == earlier["live"]
    assert state["image"].endswith(f"@{registry_digest(inventory_vars, '1.1')}")
    assert https_get("/health").headers["x-app-release"] == earlier["release"]


def test_prestart_command_runs_once_from_the_pulled_image_before_the_switch(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], site: Site, pebble_root: str
) -> None:
    """The migration step of a prebuilt image: it runs in a container of the image just pulled,
    with the new release's environment, and finishes before the new release answers."""
    with load_through_proxy(site, pebble_root) as load:
        status, output = deploy(
            app_image=f"{REPOSITORY}:1.0",
            app_release="migrated",
            app_prestart_command=[
                "python", "-c", "import os; print('migrated for', os.environ['APP_RELEASE'])"
            ],
        )  # fmt: skip
        assert status == 0, output[-3000:]
    print(f"deploy of a pulled image with a pre-start command, under load: {load.summary()}")
    assert_every_client_served(load)
    live = live_release(host)["live"]
    prestart = host.docker(f"{live}-prestart").inspect()
    printed = host.check_output(f"docker logs {live}-prestart").splitlines()
    assert printed == ["migrated for migrated"]
    assert prestart["State"]["ExitCode"] == 0
    pulled = host.check_output(f"docker image inspect --format '{{{{.Id}}}}' {REPOSITORY}:1.0")
    assert prestart["Image"] == pulled
    finished = float(host.check_output(f"date -d {prestart['State']['FinishedAt']} +%s.%N"))
    first_answer = load.report["started_at"] + load.report["releases"]["migrated"]["first"]
    assert finished < first_answer
