"""What the harness, the bench and the tests share: paths, commands, Docker, waiting, running a
playbook with the right environment, and the values of the sandbox inventory and the roles."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_DIR = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_DIR / ".cache"
APP_DIR = REPO_DIR / "app"
ROLES_DIR = REPO_DIR / "roles"
ANSIBLE_CFG = REPO_DIR / "ansible.cfg"
LOADGEN = REPO_DIR / "harness" / "loadgen.py"
# Molecule's base configuration: what every scenario shares, the server container included.
MOLECULE_BASE_CONFIG = REPO_DIR / ".config" / "molecule" / "config.yml"

# Inventories and playbooks, relative to REPO_DIR (where every playbook runs from).
SANDBOX_INVENTORY = "inventory/sandbox/hosts.yml"
# The tasks a run may take on the sandbox (one app and the database), read from the server's line
# of its play recap (ok + skipped: the same on every machine). A run that needs more is a
# regression (docs/lab.md, "Task budgets").
TASK_BUDGETS = {"site_rerun": 62, "deploy_code_only": 41, "deploy_registry": 32}
SITE_PLAYBOOK = "site.yml"
APP_PLAYBOOK = "playbooks/app.yml"
DEPLOY_PLAYBOOK = "playbooks/deploy.yml"
ROLLBACK_PLAYBOOK = "playbooks/rollback.yml"
LOGS_PLAYBOOK = "playbooks/logs.yml"
RUN_PLAYBOOK = "playbooks/run.yml"
STATUS_PLAYBOOK = "playbooks/status.yml"
MAINTENANCE_PLAYBOOK = "playbooks/maintenance.yml"

Json = dict[str, Any]


class HarnessError(RuntimeError):
    """A command failed or a condition was not met in time."""


class ConditionNotMet(HarnessError, AssertionError):
    """wait_until's timeout: an error for the harness, a failed assertion for a test."""


def logger(prefix: str) -> Callable[[str], None]:
    """A log function that writes `prefix: message` lines to stderr."""

    def log(message: str) -> None:
        print(f"{prefix}: {message}", file=sys.stderr, flush=True)

    return log


# Commands ----------------------------------------------------------------------------------


def run(
    *args: str,
    check: bool = True,
    capture: bool = True,
    timeout: float | None = 120,
    input_text: str | None = None,
    **kwargs: Any,  # noqa: ANN401 - passed on to subprocess.run (stdin, stdout, cwd, env...)
) -> subprocess.CompletedProcess[str]:
    """A command, its output captured as text (unless stdout or stderr is given, or not
    capture); input_text is written to its standard input; HarnessError (with its stderr) when
    it fails."""
    if capture and "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs["capture_output"] = True
    result = subprocess.run(
        args, text=True, timeout=timeout, check=False, input=input_text, **kwargs
    )  # fmt: skip
    if check and result.returncode != 0:
        raise HarnessError(
            f"{' '.join(args[:6])}... exited {result.returncode}: {result.stderr or ''}"
        )
    return result


def docker(*args: str, timeout: float | None = 120, check: bool = True) -> str:
    """A docker command's output, stripped."""
    return run("docker", *args, timeout=timeout, check=check).stdout.strip()


def docker_exists(kind: str, name: str) -> bool:
    """A container, network, image... of that name exists."""
    return run("docker", kind, "inspect", name, check=False).returncode == 0


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    interval: float = 0.25,
    diagnose: Callable[[], str] = lambda: "",
) -> float:
    """Polls check until it holds; returns the seconds it took, ConditionNotMet after timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise ConditionNotMet(f"condition not met within {timeout} s\n{diagnose()}".rstrip())


# Ansible -----------------------------------------------------------------------------------


def ansible_env(**overrides: str) -> dict[str, str]:
    """The environment every ansible command runs in: this virtualenv's tools first, and the
    project's ansible.cfg unless the caller's environment names one (Molecule names its own)."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": os.environ.get("ANSIBLE_CONFIG") or str(ANSIBLE_CFG),
        **overrides,
    }


def run_playbook(
    playbook: str,
    *options: str,
    inventory: str | Path = SANDBOX_INVENTORY,
    extra_vars: Mapping[str, object] | None = None,
    capture: bool = True,
    check: bool = False,
    timeout: float | None = 1800,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook from the repository's root, as an operator would run it. Captured
    output is plain text (no colours); otherwise it goes to the terminal as it comes."""
    command = ["ansible-playbook", "-i", str(inventory)]
    if extra_vars is not None:
        command += ["-e", json.dumps(extra_vars)]
    plain = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "true"} if capture else {}
    return run(
        *command, *options, playbook, cwd=REPO_DIR, env=ansible_env(**plain, **(env or {})),
        check=check, capture=capture, timeout=timeout,
    )  # fmt: skip


@functools.cache
def inventory_list(inventory: str = SANDBOX_INVENTORY) -> Json:
    """`ansible-inventory --list` of an inventory (variables as written, not templated)."""
    result = run(
        "ansible-inventory", "-i", inventory, "--list", cwd=REPO_DIR, env=ansible_env(),
        timeout=120,
    )  # fmt: skip
    return json.loads(result.stdout)


def inventory_host(group: str = "fastapi_servers", inventory: str = SANDBOX_INVENTORY) -> str:
    """The first host of a group."""
    return str(inventory_list(inventory)[group]["hosts"][0])


def inventory_vars(group: str = "fastapi_servers", inventory: str = SANDBOX_INVENTORY) -> Json:
    """The variables of a group's first host, as the inventory has them."""
    listing = inventory_list(inventory)
    return dict(listing["_meta"]["hostvars"][inventory_host(group, inventory)])


@functools.cache
def role_defaults(role: str) -> Json:
    """A role's defaults/main.yml."""
    return dict(yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()))


def database_names(variables: Json) -> dict[str, str]:
    """Where the postgres role puts the database, by the inventory's variables over the role's
    defaults: its container, volume, app database and backup directory."""
    settings = {**role_defaults("postgres"), **variables}
    return {
        "container": str(settings["postgres_name"]),
        "volume": f"{settings['postgres_name']}-data",
        "name": str(settings["postgres_app_database"]),
        "backup_dir": str(settings["postgres_backup_dir"]),
    }


@functools.cache
def molecule_base_config() -> Json:
    """Molecule's base configuration, ${MOLECULE_PROJECT_DIRECTORY} being this repository."""
    text = MOLECULE_BASE_CONFIG.read_text().replace("${MOLECULE_PROJECT_DIRECTORY}", str(REPO_DIR))
    return dict(yaml.safe_load(text))


def server_platform(scenario: str = "default") -> Json:
    """The server container's settings: the base configuration's fastapi_servers platform, as
    the scenario has it (the default scenario's is Debian 12)."""
    platforms = molecule_base_config()["platforms"]
    platform = dict(next(p for p in platforms if "fastapi_servers" in p.get("groups", [])))
    platform["image"] = platform["image"].replace("${MOLECULE_SCENARIO_NAME}", scenario)
    return platform


# The demo app ------------------------------------------------------------------------------


def app_version(directory: Path, marker: str, replace: tuple[str, str] | None = None) -> Path:
    """A copy of the demo app whose code differs by one line (a code-only change, so a new
    release), or by the line `replace` swaps too."""
    source = directory / marker
    shutil.copytree(APP_DIR, source)
    main = source / "app" / "main.py"
    code = main.read_text()
    if replace:
        code = code.replace(*replace)
    main.write_text(f"{code}# version {marker}\n")
    return source


RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.M,
)


def task_names(output: str) -> list[str]:
    """The tasks ansible-playbook's output names, in the order they ran (to say what a run over
    its budget did)."""
    return re.findall(r"^TASK \[(.+?)\] \**$", output, flags=re.MULTILINE)


def play_recap(output: str) -> dict[str, dict[str, int]]:
    """Each host's counts in the PLAY RECAP of ansible-playbook's output, with `tasks`: the
    tasks it ran (ok + skipped; a changed task is also ok)."""
    recap = {}
    for match in RECAP_LINE.finditer(output):
        counts = {key: int(value) for key, value in match.groupdict().items() if key != "host"}
        recap[match["host"]] = {**counts, "tasks": counts["ok"] + counts["skipped"]}
    return recap
