"""The deploy's health wait: healthy on a 200, and over at once when the release's container
stops or Docker restarts it (no waiting out the whole timeout)."""

from __future__ import annotations

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.modules import release_health

RUNNING = {"Status": "running", "Restarting": False}


def test_a_running_release_answering_200_is_healthy() -> None:
    assert release_health.verdict(RUNNING, 200) == release_health.HEALTHY


@pytest.mark.parametrize("status", [-1, 404, 500, 503])
def test_a_running_release_not_answering_200_is_waited_for(status: int) -> None:
    assert release_health.verdict(RUNNING, status) == release_health.WAITING


@pytest.mark.parametrize(
    "state",
    [
        {"Status": "exited", "ExitCode": 1},
        {"Status": "dead"},
        {"Status": "running", "Restarting": True},
        None,
    ],
)
def test_a_release_that_stopped_or_restarted_is_gone_even_after_a_200(
    state: dict[str, object] | None,
) -> None:
    assert release_health.verdict(state, 200) == release_health.GONE


def test_a_release_docker_restarted_while_we_waited_is_gone() -> None:
    assert release_health.verdict(RUNNING, -1, restarted=True) == release_health.GONE


def test_restarts_before_the_wait_began_do_not_count() -> None:
    """A live release that a crash test (or a real crash) once restarted is healthy again."""
    watch = release_health.RestartWatch()
    assert [watch.restarted(count) for count in (2, 2, 2)] == [False, False, False]


def test_a_restart_during_the_wait_counts() -> None:
    watch = release_health.RestartWatch()
    assert [watch.restarted(count) for count in (0, 0, 1)] == [False, False, True]


def test_the_failure_names_the_exit_code_and_restarts() -> None:
    text = release_health.describe(
        {"State": {"Status": "exited", "ExitCode": 3}, "RestartCount": 2}
    )
    assert text == "stopped (state exited, exit code 3, restarts 2)"
