"""A release's containers, decided in one tested place: the processes it runs besides its web
process (app_processes), what retiring a release does to the app's containers, and where a
rollback goes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PRESTART_OF = "fastapi-deploy.prestart-of"
# The label of a release's process containers: the release (its web container) they belong to.
PROCESS_OF = "fastapi-deploy.process-of"
# The labels of one-off containers (a scheduled job's, a `run`'s): they belong to no release and
# remove themselves when their command ends.
ONE_OFF_LABELS = ("fastapi-deploy.job-of", "fastapi-deploy.run-of")
# What a process entry leaves out. The stop timeout is its grace: the seconds between the stop
# signal and SIGKILL, for the job it is doing to finish.
PROCESS_DEFAULTS: dict[str, Any] = {"count": 1, "stop_signal": "SIGTERM", "stop_timeout": 30}
PROCESS_KEYS = ("name", "command", *PROCESS_DEFAULTS)
PROCESS_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
PROCESS_NAME_MAX = 20
PROCESS_COUNT_MAX = 16
PROCESS_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2")
PROCESS_STOP_TIMEOUT_MAX = 3600


def _name(container: dict[str, Any]) -> str:
    return container["Names"][0].lstrip("/")


def _owner(container: dict[str, Any]) -> str:
    """The release a container belongs to: itself, or the release its pre-start ran for or
    whose process it is."""
    labels = container.get("Labels") or {}
    return labels.get(PRESTART_OF) or labels.get(PROCESS_OF) or _name(container)


def command_entries_problems(
    variable: str,
    entries: object,
    keys: tuple[str, ...],
    name_rule: tuple[re.Pattern[str], int, str],
    settings_problems: Callable[[str, dict[str, Any]], list[str]],
) -> list[str]:
    """Every problem of a list of named commands (app_processes, app_jobs), each naming the
    entry and setting: the list, each entry's unknown settings, name (pattern, longest, what it
    names) and command, then settings_problems(where, entry) for the rest; [] when all is good."""
    if not isinstance(entries, list):
        return [f"{variable}: must be a list of entries with a name and a command"]
    pattern, longest, names_what = name_rule
    problems = []
    for index, entry in enumerate(entries):
        where = f"{variable}[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping with a name and a command")
            continue
        problems += [f"{where}.{key}: unknown setting (known: {', '.join(keys)})"
                     for key in entry if key not in keys]  # fmt: skip
        name, command = entry.get("name"), entry.get("command")
        if not (isinstance(name, str) and pattern.match(name) and len(name) <= longest):
            problems.append(
                f"{where}.name: {name!r} must be up to {longest} lower-case letters and digits, "
                f"starting with a letter, with single '-' between them (it names {names_what})"
            )
        if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
            problems.append(f"{where}.command: must be a non-empty list of strings (exec form)")
        problems += settings_problems(where, entry)
    names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
    duplicates = sorted({str(name) for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"{variable}: each name once (twice or more: {', '.join(duplicates)})")
    return problems


def _process_settings_problems(where: str, entry: dict[str, Any]) -> list[str]:
    settings = {**PROCESS_DEFAULTS, **entry}
    count, signal, stop_timeout = (settings[key] for key in PROCESS_DEFAULTS)
    problems = []
    if not (isinstance(count, int) and 1 <= count <= PROCESS_COUNT_MAX):
        problems.append(f"{where}.count: must be from 1 to {PROCESS_COUNT_MAX} (got {count!r})")
    if signal not in PROCESS_SIGNALS:
        problems.append(
            f"{where}.stop_signal: {signal!r} is not one of {', '.join(PROCESS_SIGNALS)}"
        )
    if not (isinstance(stop_timeout, int) and 1 <= stop_timeout <= PROCESS_STOP_TIMEOUT_MAX):
        problems.append(
            f"{where}.stop_timeout: must be from 1 to {PROCESS_STOP_TIMEOUT_MAX} seconds "
            f"(got {stop_timeout!r})"
        )
    return problems


def processes_problems(processes: object) -> list[str]:
    """Every problem of app_processes, each naming the entry and setting: [] when it is good."""
    return command_entries_problems(
        "app_processes", processes, PROCESS_KEYS, (PROCESS_NAME, PROCESS_NAME_MAX, "containers"),
        _process_settings_problems,
    )  # fmt: skip


def processes_settings(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The processes with their defaults filled in: what a release is made of."""
    return [{**PROCESS_DEFAULTS, **entry} for entry in processes]


def process_containers(processes: list[dict[str, Any]], release: str) -> list[dict[str, Any]]:
    """The containers of a release's processes: `<release>-<process>-<n>`, n from 1 to its
    count, each with its process' command, stop signal and stop timeout."""
    return [
        {
            "name": f"{release}-{entry['name']}-{n}",
            "process": entry["name"],
            "command": entry["command"],
            "stop_signal": entry["stop_signal"],
            "stop_timeout": entry["stop_timeout"],
        }
        for entry in processes_settings(processes)
        for n in range(1, entry["count"] + 1)
    ]


def retirement_plan(
    containers: list[dict[str, Any]], live: str, history: list[str]
) -> dict[str, list[str]]:
    """From `docker ps -a`-style records of the app's containers: the old releases to stop with
    their processes (kept for rollback), the containers to remove (releases no longer in the
    history, with their pre-start runs and processes) and the images only those used. One-off
    containers are left to finish: a job running through a switch is not cut short, and one that
    ends between the listing and the stop is not looked for."""
    kept = set(history) | {live}
    containers = [
        c
        for c in containers
        if not any(label in (c.get("Labels") or {}) for label in ONE_OFF_LABELS)
    ]
    releases = [c for c in containers if PRESTART_OF not in (c.get("Labels") or {})]
    removed = [c for c in containers if _owner(c) not in kept]
    images_in_use = {c["Image"] for c in containers if _owner(c) in kept}
    return {
        "stop": sorted(
            _name(c) for c in releases if c.get("State") == "running" and _owner(c) != live
        ),
        "remove": sorted(_name(c) for c in removed),
        "remove_images": sorted({c["Image"] for c in removed} - images_in_use),
    }


def rollback_target(history: list[str], live: str, wanted: str = "") -> str:
    """The release to roll back to: the one asked for, else the one live before `live`."""
    if wanted:
        return wanted
    earlier = [name for name in history if name != live]
    return earlier[-1] if earlier else ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "app_retirement_plan": retirement_plan,
            "app_rollback_target": rollback_target,
            "app_processes_problems": processes_problems,
            "app_processes_settings": processes_settings,
            "app_process_containers": process_containers,
        }
