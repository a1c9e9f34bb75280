"""plugins/action/role_input.py: a role's input against its argument spec and its rules, every
problem named at once."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleActionFail
from ansible_collections.fastapi_deploy.toolkit.plugins.action import role_input

SPECS = {
    "argument_specs": {
        "main": {
            "options": {
                "demo_port": {"type": "int", "default": 22},
                "demo_mode": {"type": "str", "choices": ["a", "b"], "default": "a"},
            }
        }
    }
}


def test_the_options_are_those_of_the_entry_point_named() -> None:
    assert set(role_input.spec_options(SPECS, "main")) == {"demo_port", "demo_mode"}


def test_an_entry_point_without_a_spec_is_an_error() -> None:
    with pytest.raises(AnsibleActionFail, match="no argument spec 'other'"):
        role_input.spec_options(SPECS, "other")


def test_values_of_the_right_type_pass_the_spec() -> None:
    options = role_input.spec_options(SPECS, "main")
    assert role_input.spec_problems(options, {"demo_port": "2222", "demo_mode": "b"}) == []


def test_a_value_of_the_wrong_type_or_choice_is_named() -> None:
    options = role_input.spec_options(SPECS, "main")
    problems = role_input.spec_problems(options, {"demo_port": "ssh", "demo_mode": "c"})
    assert len(problems) == 2
    assert any("demo_port" in problem for problem in problems)
    assert any("demo_mode" in problem for problem in problems)


def test_only_the_rules_that_do_not_hold_are_reported_in_order() -> None:
    rules = [
        {"valid": True, "rule": "demo_a: fine"},
        {"valid": False, "rule": "demo_b: must be set"},
        {"valid": "False", "rule": "demo_c: must be  a\n  port"},
    ]
    assert role_input.rule_problems(rules) == ["demo_b: must be set", "demo_c: must be a port"]


def test_a_roles_rules_are_those_of_its_role_input_task() -> None:
    rules = [{"valid": "{{ demo_port | int > 0 }}", "rule": "demo_port: not a port"}]
    tasks = [
        {"name": "Something else", "ansible.builtin.debug": {"msg": "hi"}},
        {"name": "Check", "fastapi_deploy.toolkit.role_input": {"rules": rules}},
    ]
    assert role_input.validate_rules(tasks) == rules


def test_a_role_without_a_validate_task_has_no_rules() -> None:
    assert role_input.validate_rules(None) == []
    assert role_input.validate_rules([{"ansible.builtin.debug": {"msg": "hi"}}]) == []


def test_every_role_with_a_validate_file_has_rules_there() -> None:
    for validate in role_input.ROLES_DIR.glob("*/tasks/validate.yml"):
        tasks = yaml.safe_load(validate.read_text())
        assert role_input.validate_rules(tasks), validate
