"""Deploys and rollbacks move traffic between releases without failing a single request, and
anything that goes wrong before the move leaves the live release serving.

Each test runs playbooks/deploy.yml (or rollback.yml) as an operator would, while the client
container sends keep-alive requests through the proxy; new versions are copies of the demo app
with one line changed. At the end the scenario's own release is deployed again. The pre-start
command's deploys are test_database's (a migration, from an image built on the server) and
test_registry's (from a pulled image). The database runs in both container scenarios: its
migration deploy under load is each scenario's deploy under load (no failed request of any kind
of client, every answer from the new release after it, the old release kept for a rollback).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra
from conftest import (
    Load,
    Site,
    assert_every_client_served,
    live_release,
    load_through_proxy,
    run_playbook,
)

from harness.common import DEPLOY_PLAYBOOK, ROLLBACK_PLAYBOOK
from harness.common import app_version as changed_app

testinfra_hosts = ["ansible://fastapi_servers"]

HEALTH_OK = '    return {"status": "ok"}'
# In the build's log as the callback prints it (JSON-escaped or not): the demo's requirements
# install step, then whether the builder took it from its cache or ran it.
INSTALL_STEP_OUTCOME = re.compile(
    r"Step \d+/\d+ : RUN [^\n\\]*pip install[^\n\\]*(?:\\n|\s)+"
    r"---> (?P<outcome>Using cache|Running in)"
)


def app_version(directory: Path, marker: str, health: str = HEALTH_OK) -> Path:
    """A copy of the demo app whose code differs by one line (so it builds a new release), and
    whose health check is `health`."""
    return changed_app(directory, marker, replace=(HEALTH_OK, health))


def deploy(
    source: Path, release: str, *options: str, **extra_vars: object
) -> tuple[int, str, float]:
    started = time.monotonic()
    result = run_playbook(
        DEPLOY_PLAYBOOK,
        # A source build also where the scenario deploys an image (traefik: from a registry).
        {"app_source_dir": str(source), "app_image": "", "app_release": release, **extra_vars},
        *options,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def report(what: str, load: Load, seconds: float | None = None) -> None:
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    print(f"{what}{took}: {load.summary()}")


def container_state(host: testinfra.host.Host, name: str) -> dict[str, Any]:
    return host.docker(name).inspect()["State"]


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("versions")


@pytest.fixture(scope="module", autouse=True)
def scenario_release_at_the_end(host: testinfra.host.Host) -> Iterator[None]:
    """Ends on the scenario's own source and settings, as the server was before."""
    yield
    result = run_playbook(DEPLOY_PLAYBOOK, {})
    assert result.returncode == 0, result.stdout[-3000:]


def server_snapshot(host: testinfra.host.Host) -> tuple[str, str, str]:
    """What a dry run must leave as it was: the containers and their states, the images, and
    where the proxy forwards."""
    return (
        host.check_output("docker ps -a --format '{{.Names}} {{.State}}' | sort"),
        host.check_output("docker images --format '{{.ID}} {{.Repository}}:{{.Tag}}' | sort"),
        host.check_output("cat /etc/fastapi-proxy/upstream"),
    )


def test_dry_run_of_a_changed_source_names_the_new_release_and_changes_nothing(
    host: testinfra.host.Host, versions: Path
) -> None:
    before = live_release(host)
    snapshot = server_snapshot(host)
    result = run_playbook(
        DEPLOY_PLAYBOOK,
        {"app_source_dir": str(app_version(versions, "dry")), "app_image": "",
         "app_release": "dry"},
        "--check", "--diff",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Would build fastapi-app:" in result.stdout
    assert "for release dry" in result.stdout
    assert live_release(host) == before
    assert server_snapshot(host) == snapshot


@pytest.fixture(scope="module")
def a_release_failing_its_health_check(
    host: testinfra.host.Host, site: Site, pebble_root: str, versions: Path
) -> dict[str, Any]:
    """A deploy under load of a release whose health check fails, from a source no run built
    before; verbose (-v), so that its output has the build's log."""
    marker = f"broken-{time.time_ns()}"
    broken = app_version(versions, marker, '    raise RuntimeError("this release is broken")')
    before = live_release(host)
    with load_through_proxy(site, pebble_root) as load:
        status, output, _ = deploy(broken, "broken", "-v", app_healthy_timeout=8)
    report("deploy of a release that fails its health check, under load", load)
    return {"before": before, "load": load, "status": status, "output": output}


def test_release_failing_its_health_check_is_removed_and_the_live_one_keeps_serving(
    host: testinfra.host.Host, a_release_failing_its_health_check: dict[str, Any]
) -> None:
    run = a_release_failing_its_health_check
    before, load, status, output = run["before"], run["load"], run["status"], run["output"]
    assert status != 0
    assert "release broken" in output
    assert "did not answer 200 on /health" in output
    assert f"{before['live']} keeps serving" in output
    assert_every_client_served(load)
    assert set(load.report["releases"]) == {before["release"]}
    assert live_release(host) == before
    assert "app-broken" not in host.check_output("docker ps -a --format '{{.Names}}'")


def test_release_whose_container_exits_fails_the_deploy_at_once(
    host: testinfra.host.Host, versions: Path
) -> None:
    """A release that cannot even start (here: an ASGI app that does not import) fails the
    deploy as soon as its container stops, not after the health timeout."""
    before = live_release(host)
    status, output, seconds = deploy(
        app_version(versions, "exits"), "exits", app_asgi_app="app.missing:app",
        app_healthy_timeout=300,
    )  # fmt: skip
    print(f"deploy of a release whose container exits failed after {seconds:.1f} s")
    assert status != 0
    assert "release exits" in output
    assert "stopped (state" in output
    assert "Error loading ASGI app" in output  # its last output, with the reason
    assert f"{before['live']} keeps serving" in output
    assert seconds < 150  # the whole deploy; waiting out the health timeout alone takes 300 s
    assert live_release(host) == before
    assert "app-exits" not in host.check_output("docker ps -a --format '{{.Names}}'")


@pytest.fixture
def an_earlier_release(host: testinfra.host.Host, versions: Path) -> None:
    """A release kept before the live one, whatever ran before: the migration deploy of
    test_database leaves one; where none is kept, one is deployed here."""
    if len(live_release(host)["history"]) < 2:
        status, output, _ = deploy(app_version(versions, "earlier"), "earlier")
        assert status == 0, output[-3000:]


@pytest.mark.usefixtures("an_earlier_release")
def test_rollback_under_load_fails_no_request_and_returns_to_the_previous_release(
    host: testinfra.host.Host, site: Site, pebble_root: str
) -> None:
    before = live_release(host)
    previous = before["history"][-2]
    with load_through_proxy(site, pebble_root) as load:
        started = time.monotonic()
        result = run_playbook(ROLLBACK_PLAYBOOK, {})
        seconds = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-3000:]
    report("rollback under load", load, seconds)
    assert_every_client_served(load)
    after = live_release(host)
    assert after["live"] == previous
    assert load.report["last_release"] == after["release"] != before["release"]
    assert container_state(host, before["live"])["Status"] == "exited"  # kept: can roll forward


def test_a_code_only_build_reuses_the_installed_requirements(
    host: testinfra.host.Host, a_release_failing_its_health_check: dict[str, Any]
) -> None:
    """The demo's build stage installs the requirements: a build whose only change is code takes
    that stage from the build cache (kept from the build before), and leaves no other untagged
    image behind."""
    output = a_release_failing_its_health_check["output"]
    assert "Build the app image" in output, output[-3000:]
    install = re.search(INSTALL_STEP_OUTCOME, output)
    assert install, output[-3000:]
    assert install["outcome"] == "Using cache", install[0]
    assert len(host.check_output("docker images --filter dangling=true --quiet").split()) == 1
