"""An app is described once: the app role's tasks, templates and derived variables read an app's
settings from its run (app_run: `app_run.port`, `app_run.state_file`), never from the host's
setting variables (`app_port`, `app_state_file`), which are only the role's input; and nothing
in the role binds those variables again for a run (no remap, no set_fact, no register of them).
Otherwise a second app's run could read the first app's value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import apps as filters
from jinja2 import nodes

ROLE = Path(__file__).resolve().parents[2] / "roles" / "app"
# The host's variables that make an app (plugins/filter/apps.py): the role's input.
SETTING_VARIABLES = frozenset(filters.setting_names())
# Keys whose string is a bare Jinja expression (no braces).
CONDITIONALS = frozenset(("when", "that", "changed_when", "failed_when", "until"))
# Where the role reads the host's own values on purpose, and why.
HOST_READS = {
    # The host's one app, when an entry point is entered directly (no run of apps.yml).
    ("vars/main.yml", "app_run"): {"app_name"},
    # The legacy app's name: the app that keeps the original paths when another is removed.
    ("tasks/apps.yml", ""): {"app_name"},
    # Every app's release history lies below the host's (the legacy app's) state directory.
    ("tasks/apps-found.yml", ""): {"app_state_file"},
}
# Parsed for the names a template reads, never rendered.
ENVIRONMENT = jinja2.Environment()


def names_read(text: str) -> set[str]:
    """The variables a template or expression reads (parsed only: filters need not exist)."""
    parsed = ENVIRONMENT.parse(text)
    return {name.name for name in parsed.find_all(nodes.Name) if name.ctx == "load"}


def strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:  # noqa: ANN401 - YAML
    """Every string of a YAML document with the key it is under; a conditional's bare
    expression wrapped as a template."""
    if isinstance(node, dict):
        for child_key, value in node.items():
            yield from strings(value, str(child_key))
    elif isinstance(node, list):
        for value in node:
            yield from strings(value, key)
    elif isinstance(node, str):
        bare = key in CONDITIONALS and "{{" not in node and "{%" not in node
        yield key, f"{{{{ {node} }}}}" if bare else node


def bindings(node: Any) -> Iterator[str]:  # noqa: ANN401 - YAML
    """The variables a task file binds: its tasks' and blocks' vars, set_fact, register."""
    if isinstance(node, list):
        for value in node:
            yield from bindings(value)
    elif isinstance(node, dict):
        yield from node.get("vars") or {}
        yield from node.get("ansible.builtin.set_fact") or node.get("set_fact") or {}
        if isinstance(node.get("register"), str):
            yield node["register"]
        for block in ("block", "rescue", "always"):
            yield from bindings(node.get(block))


def task_files() -> list[Path]:
    return sorted((ROLE / "tasks").glob("*.yml"))


def host_reads(relative: str, variable: str, text: str) -> set[str]:
    allowed = HOST_READS.get((relative, variable), set()) | HOST_READS.get((relative, ""), set())
    return (names_read(text) & SETTING_VARIABLES) - allowed


@pytest.mark.parametrize("path", task_files(), ids=lambda path: path.name)
def test_a_task_file_reads_an_apps_settings_from_its_run(path: Path) -> None:
    relative = f"tasks/{path.name}"
    read = {
        f"{key}: {', '.join(sorted(found))}"
        for key, text in strings(yaml.safe_load(path.read_text()))
        if (found := host_reads(relative, "", text))
    }
    assert not read, f"{relative} reads the host's settings instead of app_run's: {read}"


@pytest.mark.parametrize("path", task_files(), ids=lambda path: path.name)
def test_no_task_file_binds_an_apps_settings_again(path: Path) -> None:
    """Only apps.yml binds app_run, once per app; nothing binds a setting variable again."""
    bound = set(bindings(yaml.safe_load(path.read_text()))) & (SETTING_VARIABLES | {"app_run"})
    bound -= {"app_run"} if path.name == "apps.yml" else set()
    assert not bound, f"tasks/{path.name} binds {sorted(bound)}: an app's settings are app_run's"


@pytest.mark.parametrize("path", sorted((ROLE / "templates").iterdir()), ids=lambda p: p.name)
def test_a_template_reads_an_apps_settings_from_its_run(path: Path) -> None:
    found = host_reads(f"templates/{path.name}", "", path.read_text())
    assert not found, f"templates/{path.name} reads {sorted(found)} instead of app_run's"


def test_the_roles_derived_variables_read_an_apps_settings_from_its_run() -> None:
    derived = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    read = {
        variable: sorted(found)
        for variable, value in derived.items()
        for _, text in strings(value)
        if (found := host_reads("vars/main.yml", variable, text))
    }
    assert not read, f"vars/main.yml reads the host's settings instead of app_run's: {read}"


def test_the_only_variable_bound_for_an_apps_run_is_app_run() -> None:
    """apps.yml binds one variable per app, the run itself: no remap of the settings."""
    (loop,) = yaml.safe_load((ROLE / "tasks" / "apps.yml").read_text())
    assert loop["vars"] == {"app_run": f"{{{{ {loop['loop_control']['loop_var']} }}}}"}


def test_the_check_finds_a_host_setting_read_directly() -> None:
    """The check itself: a read of app_port is found, app_run.port and app_port_x are not."""
    assert host_reads("tasks/x.yml", "", "{{ app_port | string }}") == {"app_port"}
    assert host_reads("tasks/x.yml", "", "{{ app_run.port }}{{ app_release }}") == set()
    task = [{"name": "x", "when": "app_image | length > 0", "vars": {"app_env": {}}}]
    assert [text for _, text in strings(task) if host_reads("tasks/x.yml", "", text)] == [
        "{{ app_image | length > 0 }}"
    ]
    assert set(bindings(task)) == {"app_env"}
