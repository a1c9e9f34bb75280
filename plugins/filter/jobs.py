"""An app's scheduled jobs (app_jobs): checked, given their defaults, and named as the systemd
units and containers that run them, decided in one tested place."""

from __future__ import annotations

import re
from typing import Any

# What a job entry leaves out: the seconds it may run before its service stops it.
JOB_DEFAULTS: dict[str, Any] = {"timeout": 3600}
JOB_KEYS = ("name", "command", "schedule", *JOB_DEFAULTS)
JOB_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
JOB_NAME_MAX = 30
JOB_TIMEOUT_MAX = 86400
# A systemd calendar expression (systemd.time(7)): its words, or dates and times made of these
# characters. The timer's own check (systemd-analyze verify, when the unit is written) is exact.
SCHEDULE = re.compile(r"^[A-Za-z0-9*,/:.~ +-]{1,100}$")


def _job_problems(index: int, entry: object) -> list[str]:
    where = f"app_jobs[{index}]"
    if not isinstance(entry, dict):
        return [f"{where}: must be a mapping with a name, a command and a schedule"]
    problems = [f"{where}.{key}: unknown setting (known: {', '.join(JOB_KEYS)})"
                for key in entry if key not in JOB_KEYS]  # fmt: skip
    name, command, schedule = entry.get("name"), entry.get("command"), entry.get("schedule")
    timeout = entry.get("timeout", JOB_DEFAULTS["timeout"])
    if not (isinstance(name, str) and JOB_NAME.match(name) and len(name) <= JOB_NAME_MAX):
        problems.append(
            f"{where}.name: {name!r} must be up to {JOB_NAME_MAX} lower-case letters and digits, "
            "starting with a letter, with single '-' between them (it names a systemd unit)"
        )
    if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
        problems.append(f"{where}.command: must be a non-empty list of strings (exec form)")
    if not (isinstance(schedule, str) and SCHEDULE.match(schedule)):
        problems.append(
            f"{where}.schedule: {schedule!r} is not a systemd calendar expression such as "
            "'daily', 'hourly' or '*-*-* 03:15:00'"
        )
    if not (isinstance(timeout, int) and 1 <= timeout <= JOB_TIMEOUT_MAX):
        problems.append(
            f"{where}.timeout: must be from 1 to {JOB_TIMEOUT_MAX} seconds (got {timeout!r})"
        )
    return problems


def jobs_problems(jobs: object) -> list[str]:
    """Every problem of app_jobs, each naming the entry and setting: [] when it is good."""
    if not isinstance(jobs, list):
        return ["app_jobs: must be a list of jobs (name, command, schedule, ...)"]
    problems = [p for index, entry in enumerate(jobs) for p in _job_problems(index, entry)]
    names = [entry.get("name") for entry in jobs if isinstance(entry, dict)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"app_jobs: each name once (twice or more: {', '.join(duplicates)})")
    return problems


def job_units(jobs: list[dict[str, Any]], app: str) -> list[dict[str, Any]]:
    """Each job with its defaults, its systemd unit's name (without suffix) and its container's."""
    return [
        {
            **JOB_DEFAULTS,
            **entry,
            "unit": f"fastapi-job-{app}-{entry['name']}",
            "container": f"{app}-job-{entry['name']}",
        }
        for entry in jobs
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"app_jobs_problems": jobs_problems, "app_job_units": job_units}
