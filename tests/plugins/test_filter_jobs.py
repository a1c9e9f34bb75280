"""The app role's scheduled jobs: their checks, defaults, unit and container names."""

from __future__ import annotations

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import jobs


def test_each_job_gets_its_unit_container_and_default_timeout() -> None:
    assert jobs.job_units(
        [{"name": "count-notes", "command": ["python", "-m", "app.scheduled"],
          "schedule": "hourly"},
         {"name": "report", "command": ["report"], "schedule": "*-*-* 03:15:00", "timeout": 60}],
        "app",
    ) == [
        {"name": "count-notes", "command": ["python", "-m", "app.scheduled"],
         "schedule": "hourly", "timeout": 3600, "unit": "fastapi-job-app-count-notes",
         "container": "app-job-count-notes"},
        {"name": "report", "command": ["report"], "schedule": "*-*-* 03:15:00", "timeout": 60,
         "unit": "fastapi-job-app-report", "container": "app-job-report"},
    ]  # fmt: skip


def test_good_jobs_have_no_problem() -> None:
    assert jobs.jobs_problems([]) == []
    assert (
        jobs.jobs_problems(
            [{"name": "nightly", "command": ["x"], "schedule": "Mon..Fri *-*-* 02:00:00"}]
        )
        == []
    )


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ({"name": "nightly"}, "app_jobs: must be a list"),
        (["nightly"], "app_jobs[0]: must be a mapping"),
        ([{"name": "Nightly", "command": ["x"], "schedule": "daily"}], "app_jobs[0].name:"),
        ([{"name": "nightly", "schedule": "daily"}], "app_jobs[0].command: must be a non-empty"),
        ([{"name": "nightly", "command": ["x"]}], "app_jobs[0].schedule: None is not"),
        ([{"name": "nightly", "command": ["x"], "schedule": "daily\nExecStart=/bin/sh"}],
         "app_jobs[0].schedule:"),
        ([{"name": "nightly", "command": ["x"], "schedule": "daily", "timeout": 0}],
         "app_jobs[0].timeout: must be from 1"),
        ([{"name": "nightly", "command": ["x"], "schedule": "daily", "every": "day"}],
         "app_jobs[0].every: unknown setting"),
        ([{"name": "a", "command": ["x"], "schedule": "daily"},
          {"name": "a", "command": ["y"], "schedule": "hourly"}],
         "app_jobs: each name once (twice or more: a)"),
    ],
)  # fmt: skip
def test_each_bad_job_setting_is_named(entries: object, problem: str) -> None:
    problems = jobs.jobs_problems(entries)
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems


UNITS = jobs.job_units(
    [{"name": "count-notes", "command": ["x"], "schedule": "hourly"},
     {"name": "linger", "command": ["y"], "schedule": "daily"}],
    "app",
)  # fmt: skip


def shown(*blocks: dict[str, str]) -> str:
    return "\n\n".join("\n".join(f"{k}={v}" for k, v in block.items()) for block in blocks) + "\n"


def test_status_says_how_each_jobs_last_run_ended_and_when_it_runs_next() -> None:
    output = shown(
        {"Id": "fastapi-job-app-count-notes.service", "ActiveState": "inactive",
         "Result": "success", "ExecMainStartTimestamp": "Sat 2026-12-05 00:00:01 UTC"},
        {"Id": "fastapi-job-app-count-notes.timer", "ActiveState": "active", "Result": "success",
         "NextElapseUSecRealtime": "Sat 2026-12-05 01:00:00 UTC"},
        {"Id": "fastapi-job-app-linger.service", "ActiveState": "failed", "Result": "timeout",
         "ExecMainStartTimestamp": "Sat 2026-12-05 00:10:00 UTC"},
        {"Id": "fastapi-job-app-linger.timer", "ActiveState": "active", "Result": "success",
         "NextElapseUSecRealtime": "Sun 2026-12-06 00:00:00 UTC"},
    )  # fmt: skip
    assert jobs.job_status(output, UNITS) == [
        "job count-notes: last run Sat 2026-12-05 00:00:01 UTC: succeeded;"
        " next run Sat 2026-12-05 01:00:00 UTC",
        "job linger: last run Sat 2026-12-05 00:10:00 UTC: FAILED (timeout);"
        " next run Sun 2026-12-06 00:00:00 UTC",
    ]


def test_status_of_a_job_running_now_or_never_run() -> None:
    output = shown(
        {"Id": "fastapi-job-app-count-notes.service", "ActiveState": "activating",
         "Result": "success", "ExecMainStartTimestamp": "Sat 2026-12-05 00:00:01 UTC"},
        {"Id": "fastapi-job-app-linger.service", "ActiveState": "inactive", "Result": "success",
         "ExecMainStartTimestamp": ""},
    )  # fmt: skip
    assert jobs.job_status(output, UNITS) == [
        "job count-notes: running since Sat 2026-12-05 00:00:01 UTC;"
        " next run none (its timer is not active)",
        "job linger: not run yet; next run none (its timer is not active)",
    ]
