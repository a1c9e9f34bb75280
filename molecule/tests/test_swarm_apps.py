"""Apps on a Docker Swarm: each app a service of the registry's image by digest, its replicas
spread over the nodes behind the edge proxy; a rolling deploy fails no request and ends on the
new digest on every replica; a release failing its health check is rolled back by Swarm, the run
fails naming the app, and no request fails.

Only the swarm scenario runs this module (conftest: `runs_here`). The edge is the manager
(fd-swarm-server); the registry (fd-swarm-registry) holds the demo app as demo/app:1.0 (the
scenario's image) and demo/app:1.1 (another digest). At the end the scenario's image is deployed
again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra
from conftest import (
    REPOSITORY,
    Response,
    Site,
    assert_every_client_served,
    load_through_proxy,
    registry_digest,
    run_playbook,
)

from harness.common import DEPLOY_PLAYBOOK

testinfra_hosts = ["ansible://swarm_edge"]

SERVICE = "app"


def replicas(host: testinfra.host.Host) -> list[tuple[str, str]]:
    """(node, image) of each replica Swarm runs now."""
    output = host.check_output(
        f"docker service ps {SERVICE} --filter desired-state=running --no-trunc"
        " --format '{{.Node}} {{.Image}} {{.CurrentState}}'"
    )
    running = [line.split() for line in output.splitlines() if " Running " in f" {line} "]
    return [(fields[0], fields[1]) for fields in running]


def deploy(**extra_vars: object) -> tuple[int, str]:
    result = run_playbook(DEPLOY_PLAYBOOK, extra_vars)
    return result.returncode, result.stdout + result.stderr


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
