"""Checks roles' input in one task: the variables against each role's own argument spec, then the
role's rules that a spec cannot express (one per variable, each naming it). Every problem is
reported at once, before anything changes on the server.

Inside a role, the task checks that role with the rules it is given. From a play, with `roles`,
it checks each role named as the role itself would see its variables (its defaults, the play's
and the inventory's variables, its own vars, -e last) against the rules of the role's
tasks/validate.yml: one task checks a whole run's input, however many roles and apps it has.

Ansible validates a role's argument spec by itself only when the role is entered through an
entry point that has one; the toolkit's playbooks check every role up front and then enter the
roles' work without checking again, so a run checks each role's input exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.template import Templar, trust_as_template
from ansible.utils.vars import load_extra_vars

# The collection's roles, beside its plugins.
ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ACTION_NAMES = ("role_input", "fastapi_deploy.toolkit.role_input")


def spec_options(specs: dict[str, Any] | None, entry_point: str) -> dict[str, Any]:
    """The options of one entry point of a parsed meta/argument_specs.yml (None: no such file)."""
    entry = ((specs or {}).get("argument_specs") or {}).get(entry_point)
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


def validate_rules(tasks: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The rules of a role's tasks/validate.yml: those of its role_input task."""
    for task in tasks or []:
        for action in ACTION_NAMES:
            if isinstance(task.get(action), dict):
                return list(task[action].get("rules") or [])
    return []


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("entry_point", "rules", "roles", "role_vars", "runs_of"))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: ANN401
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        entry_point = args.get("entry_point", "main")
        check = self._check_roles if "roles" in args else self._check_own_role
        against_spec, broken_rules, checked = check(task_vars, entry_point)
        # The play's own rules first: which app a run acts on comes before that app's variables.
        problems = against_spec + rule_problems(args.get("rules") or []) + broken_rules
        result["changed"] = False
        if problems:
            result["failed"] = True
            # Worded as Ansible's own check of a role's argument spec words it.
            prefix = "Validation of arguments failed: " if against_spec else ""
            result["msg"] = prefix + "; ".join(problems)
            result["problems"] = problems
        else:
            result["msg"] = f"{checked} variables checked"
        return result

    def _load(self, path: Path) -> Any:  # noqa: ANN401 - a role's YAML, any shape
        if not path.is_file():
            return None
        return self._loader.load_from_file(str(path), trusted_as_template=True)

    def _check_own_role(
        self, task_vars: dict[str, Any], entry_point: str
    ) -> tuple[list[str], list[str], int]:
        """The role this task runs in: its spec (the rules are the task's own)."""
        role = self._task._role
        if role is None:
            raise AnsibleActionFail(
                "role_input: runs inside a role (it reads the role's spec), or names the roles"
            )
        options = spec_options(
            self._load(Path(role._role_path) / "meta" / "argument_specs.yml"), entry_point
        )
        provided = self._templar.template(
            {name: task_vars[name] for name in options if name in task_vars}
        )
        return spec_problems(options, provided), [], len(provided)

    def _check_roles(
        self, task_vars: dict[str, Any], entry_point: str
    ) -> tuple[list[str], list[str], int]:
        """Each named role, with its variables as the role sees them; a role in runs_of once per
        set of variables that variable of the role lists (the app role: once per app)."""
        extra = load_extra_vars(self._loader)
        role_vars = self._task.args.get("role_vars") or {}
        runs_of = self._task.args.get("runs_of") or {}
        against_spec, broken_rules, checked = [], [], 0
        for name in self._task.args["roles"]:
            role_dir = ROLES_DIR / name
            if not role_dir.is_dir():
                raise AnsibleActionFail(f"role_input: no role '{name}' in {ROLES_DIR}")
            variables = {
                **(self._load(role_dir / "defaults" / "main.yml") or {}),
                **task_vars,
                **(self._load(role_dir / "vars" / "main.yml") or {}),
                **role_vars.get(name, {}),
                **extra,
            }
            runs = [{}]
            if name in runs_of:
                runs = self._template(variables, trust_as_template(f"{{{{ {runs_of[name]} }}}}"))
            options = spec_options(
                self._load(role_dir / "meta" / "argument_specs.yml"), entry_point
            )
            rules = validate_rules(self._load(role_dir / "tasks" / "validate.yml"))
            for run in runs:
                run_vars = {**variables, **run, **extra}
                provided = self._template(
                    run_vars, {option: run_vars[option] for option in options if option in run_vars}
                )
                against_spec += spec_problems(options, provided)
                broken_rules += rule_problems(self._template(run_vars, rules))
                checked += len(provided)
        return against_spec, broken_rules, checked

    def _template(self, variables: dict[str, Any], value: Any) -> Any:  # noqa: ANN401
        return Templar(loader=self._loader, variables=variables).template(value)
