"""The rollout of an app's Swarm service: done, failed (rolled back) or still going; the
services of its processes, those to remove and their status."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.filter.services import (
    named,
    previous_release,
    process_services,
    process_services_removed,
    process_status_lines,
    rollout,
    running_image,
    running_release,
    services_on_network,
    status_lines,
)

NEW = "registry.example.test/app@sha256:" + "b" * 64
OLD = "registry.example.test/app@sha256:" + "a" * 64


def task(image: str, state: str = "running", desired: str = "running") -> dict[str, Any]:
    return {
        "DesiredState": desired,
        "Status": {"State": state},
        "Spec": {"ContainerSpec": {"Image": image}},
    }


def service(
    state: str = "", message: str = "", previous: str = "", release: str = "", running: str = NEW
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "Spec": {"Name": "app", "Mode": {"Replicated": {"Replicas": 2}},
                 "TaskTemplate": {"ContainerSpec": {"Image": running}}},
    }  # fmt: skip
    if state:
        found["UpdateStatus"] = {"State": state, "Message": message}
    if previous:
        env = [f"APP_RELEASE={release}"] if release else []
        found["PreviousSpec"] = {"TaskTemplate": {"ContainerSpec": {"Image": previous, "Env": env}}}
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


def test_an_earlier_rolled_back_update_does_not_fail_a_run_that_changed_nothing() -> None:
    earlier = service("rollback_completed", "rollback completed")
    result = rollout(earlier, [task(OLD), task(OLD)], OLD, 2, "app", updated=False)
    assert result["done"] and not result["failed"]


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


def test_a_rollback_returns_to_the_previous_specifications_image_and_release() -> None:
    found = previous_release(service("completed", previous=OLD, release="1.0"), "app")
    assert found == {"image": OLD, "release": "1.0", "problem": ""}


def test_a_previous_release_without_its_name_is_named_by_its_digest() -> None:
    assert previous_release(service("completed", previous=OLD), "app")["release"] == "a" * 12


@pytest.mark.parametrize(
    ("found", "said"),
    [
        (None, "'app' has no Swarm service yet"),
        (service(), "'app' has no previous release"),
        (service("completed", previous=NEW), "previous specification of 'app' runs the live image"),
    ],
    ids=["no service", "never updated", "the same image"],
)
def test_a_service_without_an_earlier_release_cannot_roll_back_and_the_problem_names_the_app(
    found: dict[str, Any] | None, said: str
) -> None:
    result = previous_release(found, "app")
    assert result["image"] == ""
    assert said in result["problem"]


NODES = [
    {"ID": "n1", "Description": {"Hostname": "host-1"},
     "Spec": {"Labels": {"fastapi_deploy.inventory_hostname": "web-1"}}},
    {"ID": "n2", "Description": {"Hostname": "host-2"}, "Spec": {"Labels": {}}},
]  # fmt: skip


def replica(
    slot: int, node: str, state: str = "running", desired: str = "running"
) -> dict[str, Any]:
    found = task(NEW, state, desired)
    found["Spec"]["ContainerSpec"]["Env"] = ["TZ=UTC", "APP_RELEASE=1.1"]
    found.update(
        {"ID": f"t{slot}{desired}", "Slot": slot, "NodeID": node,
         "Status": {"State": state, "Timestamp": "2026-12-06T08:00:00.123Z"}}
    )  # fmt: skip
    return found


def test_the_status_lists_each_replica_with_its_node_state_release_and_image() -> None:
    tasks = [
        replica(2, "n2", "starting"),
        replica(1, "n1"),
        replica(1, "n2", "shutdown", "shutdown"),
    ]
    lines = status_lines(service("completed", running=NEW), tasks, NODES, "app")
    assert lines == [
        f"app app: service running {NEW}, 1 of 2 replicas running, last update completed",
        f"replica 1 on web-1: running since 2026-12-06T08:00:00Z, release 1.1, {NEW}",
        f"replica 2 on host-2: starting since 2026-12-06T08:00:00Z, release 1.1, {NEW}",
    ]


def test_the_status_of_an_app_without_a_service_says_so() -> None:
    said = status_lines(None, [], NODES, "app")
    assert said == ["app app: no Swarm service yet (deploy it first)"]


def test_the_image_a_service_runs_is_its_specifications() -> None:
    running = {"Spec": {"Name": "app", "TaskTemplate": {"ContainerSpec": {"Image": NEW}}}}
    assert running_image(running) == NEW
    assert running_image(None) == ""


def test_the_release_a_service_runs_is_its_specifications_app_release() -> None:
    running = service()
    running["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] = ["APP_RELEASE=1.1"]
    assert running_release(running) == "1.1"
    assert running_release(None) == ""


def process_service(name: str, app: str = "app", process: str | None = "p") -> dict[str, Any]:
    labels = {"fastapi-deploy.app": app, "fastapi-deploy.release": "r1"}
    if process is not None:
        labels["fastapi-deploy.process"] = process
    return {
        "ID": f"id-{name}",
        "Spec": {"Name": name, "Labels": labels, "Mode": {"Replicated": {"Replicas": 1}},
                 "TaskTemplate": {"ContainerSpec": {"Image": NEW}}},
    }  # fmt: skip


def test_each_process_is_a_service_named_after_the_app_with_its_settings_and_defaults() -> None:
    declared = [
        {"name": "worker", "command": ["arq", "app.Worker"]},
        {"name": "mailer", "command": ["mail"], "count": 2, "stop_signal": "SIGINT",
         "stop_timeout": 5},
    ]  # fmt: skip
    assert process_services(declared, "shop") == [
        {"name": "shop-worker", "process": "worker", "command": ["arq", "app.Worker"],
         "replicas": 1, "stop_signal": "SIGTERM", "stop_timeout": 30},
        {"name": "shop-mailer", "process": "mailer", "command": ["mail"], "replicas": 2,
         "stop_signal": "SIGINT", "stop_timeout": 5},
    ]  # fmt: skip


def test_the_service_of_a_process_no_longer_declared_is_removed_and_no_other() -> None:
    services = [
        process_service("app", process=None),
        process_service("app-worker", process="worker"),
        process_service("app-old", process="old"),
        process_service("other-old", app="other", process="old"),
    ]
    declared = [{"name": "worker", "command": ["arq"]}]
    assert process_services_removed(services, declared, "app") == ["app-old"]


def test_every_process_service_is_removed_when_the_app_declares_none() -> None:
    services = [process_service("app-b", process="b"), process_service("app-a", process="a")]
    assert process_services_removed(services, [], "app") == ["app-a", "app-b"]


def test_the_status_reports_each_process_service_with_its_own_replicas_only() -> None:
    services = [process_service("app", process=None), process_service("app-worker", "app", "w")]
    tasks = [
        {**task(NEW), "ServiceID": "id-app", "Slot": 1, "NodeID": "n1"},
        {**task(NEW), "ServiceID": "id-app-worker", "Slot": 1, "NodeID": "n2"},
    ]
    nodes = [{"ID": "n1", "Description": {"Hostname": "node-1"}},
             {"ID": "n2", "Description": {"Hostname": "node-2"}}]  # fmt: skip
    lines = process_status_lines(services, tasks, nodes, "app")
    said = f"process app-worker: service running {NEW}, 1 of 1 replicas running"
    assert lines[0].startswith(said)
    assert len(lines) == 2
    assert lines[1].startswith("replica 1 on node-2: running")


def test_the_status_reports_no_process_service_for_an_app_without_processes() -> None:
    assert process_status_lines([process_service("app", process=None)], [], [], "app") == []


def on_networks(name: str, targets: list[str], replicas: int | None = 2) -> dict[str, Any]:
    mode = {"Replicated": {"Replicas": replicas}} if replicas is not None else {"Global": {}}
    networks = [{"Target": target} for target in targets]
    return {"Spec": {"Name": name, "Mode": mode, "TaskTemplate": {"Networks": networks}}}


def test_the_services_on_the_database_network_are_found_with_their_replicas_by_name() -> None:
    services = [
        on_networks("web", ["edge-id", "db-id"], 3),
        on_networks("api", ["db-id"], 2),
        on_networks("static", ["edge-id"]),
        on_networks("stopped", ["db-id"], 0),
    ]
    assert services_on_network(services, "db-id", "postgres") == [
        {"name": "api", "replicas": 2},
        {"name": "stopped", "replicas": 0},
        {"name": "web", "replicas": 3},
    ]


def test_a_service_naming_the_network_is_found_and_a_global_one_is_not() -> None:
    services = [on_networks("web", ["postgres"]), on_networks("agent", ["db-id"], None)]
    assert services_on_network(services, "db-id", "postgres") == [{"name": "web", "replicas": 2}]


def test_no_service_on_the_network_finds_none() -> None:
    assert services_on_network([on_networks("web", ["edge-id"]), {}], "db-id", "postgres") == []
