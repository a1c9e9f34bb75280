"""The documentation of the action plugin role_input (plugins/action/role_input.py), which runs
on the controller: Ansible reads an action's documentation from its module file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: role_input
short_description: Check roles' variables against their argument specs and their rules, in one task
description:
  - Inside a role, validates the role's variables against the options of one entry point of the
    role's meta/argument_specs.yml (types, choices, required), then checks each rule a spec
    cannot express, and fails naming every problem at once.
  - From a play, with O(roles), does the same for each of the collection's roles named, with its
    variables as the role would see them (its defaults, the play's and the inventory's
    variables, its vars, extra variables last) and the rules of the role's tasks/validate.yml.
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
  roles:
    description: The collection's roles to check, from a play (outside any role).
    type: list
    elements: str
  role_vars:
    description: Variables of a role's check, by role name (as include_role's vars would be).
    type: dict
    default: {}
  runs_of:
    description: By role name, a variable of that role listing sets of variables; the role is
      checked once with each (the app role, once per app).
    type: dict
    default: {}
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Check each role's variables
  fastapi_deploy.toolkit.role_input:
    roles: [hardening, docker, firewall, proxy, app]
    runs_of:
      app: app_apps_checked

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
