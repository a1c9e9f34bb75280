"""The documentation of the action plugin role_input (plugins/action/role_input.py), which runs
on the controller: Ansible reads an action's documentation from its module file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: role_input
short_description: Check a role's variables against its argument spec and its rules, in one task
description:
  - Runs inside a role. Validates the role's variables against the options of one entry point of
    the role's meta/argument_specs.yml (types, choices, required), then checks each rule a spec
    cannot express, and fails naming every problem at once.
  - Runs on the controller only; it changes nothing.
options:
  entry_point:
    description: The entry point of meta/argument_specs.yml whose options are checked.
    type: str
    default: main
  rules:
    description: Rules a spec cannot express, each C(valid) (a boolean) and C(rule) (the message,
      naming the variable first).
    type: list
    elements: dict
    default: []
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Check the firewall's variables
  fastapi_deploy.toolkit.role_input:
    rules:
      - valid: "{{ 1 <= firewall_ssh_port | int <= 65535 }}"
        rule: "firewall_ssh_port: {{ firewall_ssh_port }} is not a TCP port (1-65535)"
"""

RETURN = r"""
problems:
  description: Every problem found, each naming its variable.
  returned: failure
  type: list
  elements: str
"""
