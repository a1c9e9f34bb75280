"""The rollout of an app's Swarm service: done, failed (rolled back) or still going."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from plugins.filter.services import named, previous_image, rollout, running_image

NEW = "registry.example.test/app@sha256:" + "b" * 64
OLD = "registry.example.test/app@sha256:" + "a" * 64


def task(image: str, state: str = "running", desired: str = "running") -> dict[str, Any]:
    return {
        "DesiredState": desired,
        "Status": {"State": state},
        "Spec": {"ContainerSpec": {"Image": image}},
    }


def service(state: str = "", message: str = "", previous: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"Spec": {"Name": "app"}}
    if state:
        found["UpdateStatus"] = {"State": state, "Message": message}
    if previous:
        found["PreviousSpec"] = {"TaskTemplate": {"ContainerSpec": {"Image": previous}}}
    return found


def test_a_new_service_is_done_when_every_replica_runs_the_image() -> None:
    result = rollout(service(), [task(NEW), task(NEW)], NEW, 2, "app")
    assert result["done"] and not result["failed"]


def test_a_new_service_waits_for_a_replica_still_starting() -> None:
    result = rollout(service(), [task(NEW), task(NEW, state="starting")], NEW, 2, "app")
    assert not result["done"]
    assert "1 of 2 replicas" in result["message"]


def test_an_update_in_progress_is_not_done_even_with_the_replicas_running() -> None:
    tasks = [task(NEW), task(NEW), task(OLD, desired="shutdown")]
    assert not rollout(service("updating"), tasks, NEW, 2, "app")["done"]


def test_a_completed_update_is_done() -> None:
    result = rollout(service("completed"), [task(NEW), task(NEW)], NEW, 2, "app")
    assert result == {"done": True, "failed": False, "message": result["message"]}


def test_a_rolled_back_update_fails_naming_the_app_and_the_reason() -> None:
    result = rollout(
        service("rollback_completed", "rollback completed: update failed"),
        [task(OLD), task(OLD)], NEW, 2, "shop",
    )  # fmt: skip
    assert result["done"] and result["failed"]
    assert "'shop'" in result["message"]
    assert "update failed" in result["message"]


@pytest.mark.parametrize("state", ["paused", "rollback_paused"])
def test_a_paused_update_fails(state: str) -> None:
    assert rollout(service(state), [task(NEW)], NEW, 2, "app")["failed"]


def test_a_rollback_in_progress_is_not_done() -> None:
    assert not rollout(service("rollback_started"), [task(NEW), task(NEW)], NEW, 2, "app")["done"]


def test_replicas_of_another_image_do_not_count() -> None:
    assert not rollout(service("completed"), [task(OLD), task(NEW)], NEW, 2, "app")["done"]


def test_the_service_is_found_by_its_exact_name() -> None:
    services = [{"Spec": {"Name": "app-worker"}}, {"Spec": {"Name": "app"}}]
    assert named(services, "app") == {"Spec": {"Name": "app"}}
    assert named(services, "ap") is None


def test_a_rollback_returns_to_the_previous_specifications_image() -> None:
    assert previous_image(service("completed", previous=OLD), "app") == OLD


def test_a_service_without_a_previous_release_cannot_roll_back() -> None:
    with pytest.raises(AnsibleFilterError, match="'app' has no previous release"):
        previous_image(service(), "app")


def test_the_image_a_service_runs_is_its_specifications() -> None:
    running = {"Spec": {"Name": "app", "TaskTemplate": {"ContainerSpec": {"Image": NEW}}}}
    assert running_image(running) == NEW
    assert running_image(None) == ""
