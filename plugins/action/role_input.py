"""Checks a role's input in one task: the variables against the role's own argument spec, then
the role's rules that a spec cannot express (one per variable, each naming it). Every problem is
reported at once, before anything changes on the server.

Ansible validates a role's argument spec by itself only when the role is entered through an
entry point that has one; the toolkit's playbooks check every role up front and then enter the
roles' work without checking again, so a run checks each role's input exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase


def spec_options(specs: dict[str, Any], entry_point: str) -> dict[str, Any]:
    """The options of one entry point of a parsed meta/argument_specs.yml."""
    entry = (specs.get("argument_specs") or {}).get(entry_point)
    if entry is None:
        raise AnsibleActionFail(f"role_input: the role has no argument spec '{entry_point}'")
    return dict(entry.get("options") or {})


def spec_problems(options: dict[str, Any], provided: dict[str, Any]) -> list[str]:
    """What the argument spec finds wrong with the provided values (types, choices, required)."""
    result = ArgumentSpecValidator(options).validate(provided, validate_role_argument_spec=True)
    return [str(message) for message in result.error_messages]


def rule_problems(rules: list[dict[str, Any]]) -> list[str]:
    """The messages of the rules that do not hold; a rule is {valid: bool, rule: message}."""
    problems = []
    for rule in rules:
        valid = rule.get("valid")
        if isinstance(valid, str):
            valid = valid.strip().lower() in ("true", "yes", "1")
        if not valid:
            problems.append(" ".join(str(rule.get("rule", "a rule does not hold")).split()))
    return problems


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("entry_point", "rules"))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: ANN401
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        role = self._task._role
        if role is None:
            raise AnsibleActionFail("role_input: runs inside a role (it reads the role's spec)")
        spec_file = Path(role._role_path) / "meta" / "argument_specs.yml"
        options = spec_options(
            yaml.safe_load(spec_file.read_text()), self._task.args.get("entry_point", "main")
        )
        provided = self._templar.template(
            {name: task_vars[name] for name in options if name in task_vars}
        )
        against_spec = spec_problems(options, provided)
        problems = against_spec + rule_problems(self._task.args.get("rules") or [])
        result["changed"] = False
        if problems:
            result["failed"] = True
            # Worded as Ansible's own check of a role's argument spec words it.
            prefix = "Validation of arguments failed: " if against_spec else ""
            result["msg"] = prefix + "; ".join(problems)
            result["problems"] = problems
        else:
            result["msg"] = f"{role.get_name()}: {len(provided)} variables checked"
        return result
