"""Each concern of site.yml has a tag: --tags app deploys the app alone (its route through the
proxy included), --skip-tags hardening leaves the host's hardening out; the input is checked
whatever the tags. On a converged server neither changes anything."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import converge_site

testinfra_hosts = ["ansible://fastapi_servers"]

ROLES = ("hardening", "docker", "firewall", "proxy", "app")


def roles_that_acted(output: str) -> set[str]:
    """Roles with a task other than checking their input (validation runs whatever the tags)."""
    acted = re.findall(r"^TASK \[fastapi_deploy\.toolkit\.(\w+) : (.*?)\]", output, re.M)
    return {
        role
        for role, task in acted
        if not task.startswith("Validating arguments") and not task.startswith("Check the")
    }


@pytest.fixture(scope="module")
def app_only() -> str:
    return converge_site({}, "--tags", "app")


@pytest.fixture(scope="module")
def without_hardening() -> str:
    return converge_site({}, "--skip-tags", "hardening")


def test_app_tag_runs_the_app_and_its_route_alone(app_only: str) -> None:
    assert roles_that_acted(app_only) == {"app", "proxy"}
    # On a converged server the release is live and routed: its health is checked, and the run
    # moves no route (test_deploy moves one).
    assert (
        "TASK [fastapi_deploy.toolkit.app : Wait until the release answers its health check]"
        in app_only
    )
    assert re.search(
        r"^TASK \[fastapi_deploy\.toolkit\.app : Move the traffic to the new release and retire the"
        r" old one\][^\n]*\nskipping: ",
        app_only,
        re.M,
    )


def test_tags_still_check_the_input_first(app_only: str) -> None:
    assert "PLAY [Validate the inventory]" in app_only
    # Every role's input, the hardening's too, whatever the tags (playbooks/validate.yml).
    assert "TASK [Check each role's variables, and which app the run acts on]" in app_only


def test_skipping_hardening_runs_every_other_concern(
    without_hardening: str, inventory_vars: dict[str, Any]
) -> None:
    data_services = {"postgres"} if inventory_vars.get("postgres_enabled") else set()
    data_services |= {"redis"} if inventory_vars.get("redis_enabled") else set()
    data_services |= {"offsite"} if inventory_vars.get("offsite_enabled") else set()
    assert roles_that_acted(without_hardening) == set(ROLES) - {"hardening"} | data_services


@pytest.mark.parametrize("run", ["app_only", "without_hardening"])
def test_a_tagged_run_on_a_converged_server_changes_nothing(
    run: str, request: pytest.FixtureRequest
) -> None:
    assert re.search(r"changed=0\s", request.getfixturevalue(run))
