"""A registry pull's failure names its step and the registry, and says nothing was switched."""

from __future__ import annotations

from ansible_collections.fastapi_deploy.toolkit.plugins.action.registry_pull import (
    failure_message,
)


def test_a_refused_login_names_the_registry_and_the_user() -> None:
    message = failure_message(
        "login", "r.example:5000/a:1", "r.example:5000", "deploy", "401 Unauthorized"
    )
    assert message.startswith("could not log in to the registry r.example:5000 as deploy: 401")
    assert message.endswith("the live release keeps serving.")


def test_a_failed_pull_names_the_image_and_the_registry() -> None:
    message = failure_message("pull", "r.example:5000/a:2", "r.example:5000", "", "not found")
    assert message.startswith("could not pull r.example:5000/a:2 from r.example:5000: not found")


def test_a_failure_without_a_cause_still_says_where_to_look() -> None:
    assert "see the task's output" in failure_message("pull", "a:1", "r", "", "  ")
