"""An app's scheduled jobs (app_jobs): checked, given their defaults, and named as the systemd
units and containers that run them, decided in one tested place."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.fastapi_deploy.toolkit.plugins.filter.releases import (
    command_entries_problems,
)

# What a job entry leaves out: the seconds it may run before its service stops it.
JOB_DEFAULTS: dict[str, Any] = {"timeout": 3600}
JOB_KEYS = ("name", "command", "schedule", *JOB_DEFAULTS)
JOB_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
JOB_NAME_MAX = 30
JOB_TIMEOUT_MAX = 86400
# A systemd calendar expression (systemd.time(7)): its words, or dates and times made of these
# characters. The timer's own check (systemd-analyze verify, when the unit is written) is exact.
SCHEDULE = re.compile(r"^[A-Za-z0-9*,/:.~ +-]{1,100}$")
# What `status` reads of each job's service and timer (job_status).
JOB_STATUS_PROPERTIES = "Id,ActiveState,Result,ExecMainStartTimestamp,NextElapseUSecRealtime"


def _job_settings_problems(where: str, entry: dict[str, Any]) -> list[str]:
    schedule, timeout = entry.get("schedule"), entry.get("timeout", JOB_DEFAULTS["timeout"])
    problems = []
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
    return command_entries_problems(
        "app_jobs", jobs, JOB_KEYS, (JOB_NAME, JOB_NAME_MAX, "a systemd unit"),
        _job_settings_problems,
    )  # fmt: skip


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


def systemd_units(show_output: str) -> dict[str, dict[str, str]]:
    """The properties of each unit in `systemctl show` output (a block per unit), by its Id."""
    units = {}
    for block in show_output.strip().split("\n\n"):
        properties = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        units[properties.get("Id", "")] = properties
    return units


def job_last_run(service: dict[str, str]) -> str:
    started = service.get("ExecMainStartTimestamp", "")
    if service.get("ActiveState") in ("activating", "active", "deactivating"):
        return f"running since {started}"
    if not started:
        return "not run yet"
    result = service.get("Result", "")
    return f"last run {started}: " + ("succeeded" if result == "success" else f"FAILED ({result})")


def job_status(show_output: str, units: list[dict[str, Any]]) -> list[str]:
    """A line per job, from `systemctl show -p <JOB_STATUS_PROPERTIES>` of each job's service and
    timer: how its last run ended (a failure in capitals) or that it runs now, and its next run."""
    shown = systemd_units(show_output)
    lines = []
    for job in units:
        service = shown.get(f"{job['unit']}.service", {})
        timer = shown.get(f"{job['unit']}.timer", {})
        next_run = timer.get("NextElapseUSecRealtime") or "none (its timer is not active)"
        lines.append(f"job {job['name']}: {job_last_run(service)}; next run {next_run}")
    return lines


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "app_jobs_problems": jobs_problems,
            "app_job_units": job_units,
            "app_job_status": job_status,
        }
