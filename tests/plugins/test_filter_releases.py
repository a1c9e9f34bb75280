"""The app role's decisions about releases: what a retirement stops and prunes, where a
rollback goes."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import releases


def container(
    name: str, state: str, image: str, prestart_of: str = "", **labelled: str
) -> dict[str, Any]:
    labels = {"fastapi-deploy.app": "app"}
    if prestart_of:
        labels["fastapi-deploy.prestart-of"] = prestart_of
    labels |= {f"fastapi-deploy.{key.replace('_', '-')}": value for key, value in labelled.items()}
    return {"Names": [f"/{name}"], "State": state, "Image": image, "Labels": labels}


def test_a_scheduled_job_or_one_off_run_in_progress_is_left_to_finish() -> None:
    """They belong to no release and remove themselves when done: a switch neither stops nor
    removes them (one may end between the listing and the stop)."""
    plan = releases.retirement_plan(
        [
            container("app-b", "running", "img:b"),
            container("app-a", "running", "img:a"),
            container("app-job-count", "running", "img:a", job_of="app-a"),
            container("app-a-run-20261205", "running", "img:a", run_of="app-a"),
        ],
        live="app-b",
        history=["app-a", "app-b"],
    )
    assert plan == {"stop": ["app-a"], "remove": [], "remove_images": []}


def test_the_release_replaced_is_stopped_not_removed() -> None:
    plan = releases.retirement_plan(
        [container("app-b", "running", "img:b"), container("app-a", "running", "img:a")],
        live="app-b",
        history=["app-a", "app-b"],
    )
    assert plan == {"stop": ["app-a"], "remove": [], "remove_images": []}


def test_releases_out_of_the_history_go_with_their_prestart_runs_and_images() -> None:
    plan = releases.retirement_plan(
        [
            container("app-a", "exited", "img:a"),
            container("app-a-prestart", "exited", "img:a", prestart_of="app-a"),
            container("app-b", "exited", "img:b"),
            container("app-c", "running", "img:c"),
        ],
        live="app-c",
        history=["app-b", "app-c"],
    )
    assert plan == {"stop": [], "remove": ["app-a", "app-a-prestart"], "remove_images": ["img:a"]}


def test_an_image_still_used_by_a_kept_release_stays() -> None:
    """A settings-only change gives a new container on the same image."""
    plan = releases.retirement_plan(
        [container("app-x-1", "exited", "img:x"), container("app-x-2", "running", "img:x")],
        live="app-x-2",
        history=["app-x-2"],
    )
    assert plan == {"stop": [], "remove": ["app-x-1"], "remove_images": []}


def test_a_running_prestart_is_not_stopped_as_a_release() -> None:
    plan = releases.retirement_plan(
        [
            container("app-b", "running", "img:b"),
            container("app-b-prestart", "running", "img:b", prestart_of="app-b"),
        ],
        live="app-b",
        history=["app-b"],
    )
    assert plan["stop"] == []


def test_rollback_goes_to_the_release_live_before() -> None:
    assert releases.rollback_target(["app-a", "app-b", "app-c"], live="app-c") == "app-b"


def test_rollback_goes_where_asked() -> None:
    assert releases.rollback_target(["app-a", "app-b"], live="app-b", wanted="app-a") == "app-a"


def test_no_rollback_without_an_earlier_release() -> None:
    assert releases.rollback_target(["app-a"], live="app-a") == ""


def process(name: str, state: str, image: str, of: str) -> dict[str, Any]:
    record = container(name, state, image)
    record["Labels"][releases.PROCESS_OF] = of
    return record


def test_a_replaced_release_stops_with_its_processes_and_the_new_ones_keep_running() -> None:
    plan = releases.retirement_plan(
        [
            container("app-a", "running", "img:a"),
            process("app-a-worker-1", "running", "img:a", of="app-a"),
            container("app-b", "running", "img:b"),
            process("app-b-worker-1", "running", "img:b", of="app-b"),
        ],
        live="app-b",
        history=["app-a", "app-b"],
    )
    assert plan == {"stop": ["app-a", "app-a-worker-1"], "remove": [], "remove_images": []}


def test_a_release_pruned_from_the_history_goes_with_its_processes() -> None:
    plan = releases.retirement_plan(
        [
            container("app-a", "exited", "img:a"),
            process("app-a-worker-1", "exited", "img:a", of="app-a"),
            container("app-b", "running", "img:b"),
        ],
        live="app-b",
        history=["app-b"],
    )
    assert plan["remove"] == ["app-a", "app-a-worker-1"]
    assert plan["remove_images"] == ["img:a"]


def test_each_process_runs_its_count_of_containers_named_after_the_release() -> None:
    containers = releases.process_containers(
        [{"name": "worker", "command": ["arq", "x"], "count": 2},
         {"name": "mailer", "command": ["mail"], "stop_signal": "SIGINT", "stop_timeout": 5}],
        "app-r1-abc",
    )  # fmt: skip
    assert containers == [
        {"name": "app-r1-abc-worker-1", "process": "worker", "command": ["arq", "x"],
         "stop_signal": "SIGTERM", "stop_timeout": 30},
        {"name": "app-r1-abc-worker-2", "process": "worker", "command": ["arq", "x"],
         "stop_signal": "SIGTERM", "stop_timeout": 30},
        {"name": "app-r1-abc-mailer-1", "process": "mailer", "command": ["mail"],
         "stop_signal": "SIGINT", "stop_timeout": 5},
    ]  # fmt: skip


def test_good_processes_have_no_problem() -> None:
    assert releases.processes_problems([]) == []
    assert releases.processes_problems([{"name": "worker", "command": ["arq", "a.b"]}]) == []


@pytest.mark.parametrize(
    ("processes", "problem"),
    [
        ({"name": "worker"}, "app_processes: must be a list"),
        (["worker"], "app_processes[0]: must be a mapping"),
        ([{"name": "Worker", "command": ["x"]}], "app_processes[0].name: 'Worker' must be"),
        ([{"name": "w" * 21, "command": ["x"]}], "app_processes[0].name:"),
        ([{"name": "worker"}], "app_processes[0].command: must be a non-empty list"),
        ([{"name": "worker", "command": "arq a.b"}], "app_processes[0].command:"),
        ([{"name": "worker", "command": ["x"], "count": 0}], "app_processes[0].count: must be"),
        ([{"name": "worker", "command": ["x"], "stop_signal": "TERM"}],
         "app_processes[0].stop_signal: 'TERM' is not one of"),
        ([{"name": "worker", "command": ["x"], "stop_timeout": 0}],
         "app_processes[0].stop_timeout: must be from 1"),
        ([{"name": "worker", "command": ["x"], "replicas": 2}],
         "app_processes[0].replicas: unknown setting"),
        ([{"name": "worker", "command": ["x"]}, {"name": "worker", "command": ["y"]}],
         "app_processes: each name once (twice or more: worker)"),
    ],
)  # fmt: skip
def test_each_bad_process_setting_is_named(processes: object, problem: str) -> None:
    problems = releases.processes_problems(processes)
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems
