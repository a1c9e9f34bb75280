"""A registry pull's failure names its step and the registry, and says nothing was switched."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import MagicMock

from ansible_collections.fastapi_deploy.toolkit.plugins.action.registry_pull import (
    LOGIN,
    PULL,
    ActionModule,
    failure_message,
)

PASSWORD = "s3cret-registry-password"


def test_a_refused_login_names_the_registry_and_the_user() -> None:
    message = failure_message(
        "login", "r.example:5000/a:1", "r.example:5000", "deploy", "401 Unauthorized"
    )
    assert message.startswith("app: could not log in to the registry r.example:5000 as deploy: 401")
    assert message.endswith("the live release keeps serving.")


def test_a_failed_pull_names_the_image_and_the_registry() -> None:
    message = failure_message("pull", "r.example:5000/a:2", "r.example:5000", "", "not found")
    assert message.startswith("app: could not pull r.example:5000/a:2 from r.example:5000: not")


def test_a_failure_without_a_cause_still_says_where_to_look() -> None:
    assert "see the task's output" in failure_message("pull", "a:1", "r", "", "  ")


Calls = list[tuple[str, dict[str, Any]]]


def run_pull(
    answers: dict[str, dict[str, Any]], check_mode: bool = False
) -> tuple[dict[str, Any], Calls]:
    """Runs the action with Docker's modules replaced by their recorded answers (no Docker
    engine in a unit test): returns the task's result and the modules called, in order."""
    task = MagicMock()
    task.args = {
        "name": "r.example:5000/a:1",
        "registry": "r.example:5000",
        "username": "deploy",
        "password": PASSWORD,
    }
    task.check_mode = check_mode
    task.async_val = 0
    action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    calls: Calls = []

    def execute(module_name: str, module_args: dict[str, Any], **_: object) -> dict[str, Any]:
        step = "logout" if module_args.get("state") == "absent" else module_name
        calls.append((step, module_args))
        return answers.get(step, {})

    action._execute_module = execute  # type: ignore[method-assign]
    return action.run(task_vars={}), calls


def test_the_login_lasts_the_pull_alone() -> None:
    result, calls = run_pull({PULL: {"changed": True, "image": {"Id": "sha256:1"}}})
    assert [step for step, _ in calls] == [LOGIN, PULL, "logout"]
    assert result["changed"] and not result.get("failed")


def test_a_failed_pull_still_logs_out_and_never_shows_the_password() -> None:
    result, calls = run_pull({PULL: {"failed": True, "msg": "manifest unknown"}})
    assert [step for step, _ in calls] == [LOGIN, PULL, "logout"]
    assert result["failed"] and "manifest unknown" in result["msg"]
    assert PASSWORD not in json.dumps(result)


def test_a_refused_login_pulls_nothing_and_never_shows_the_password() -> None:
    result, calls = run_pull({LOGIN: {"failed": True, "msg": "401 Unauthorized"}})
    assert [step for step, _ in calls] == [LOGIN, "logout"]
    assert result["failed"] and PASSWORD not in json.dumps(result)


def test_a_dry_run_asks_no_registry_for_a_login() -> None:
    _, calls = run_pull({}, check_mode=True)
    assert [step for step, _ in calls] == [PULL]
