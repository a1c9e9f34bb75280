"""The documentation of the action plugin apt_install (plugins/action/apt_install.py), which runs
the find and apt modules in one task: Ansible reads an action's documentation from its module
file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apt_install
short_description: Install Debian packages, updating missing or old package lists first
description:
  - Installs O(name) with M(ansible.builtin.apt) in one transaction.
  - Updates the package lists first when none is present in C(/var/lib/apt/lists) (a fresh image
    that removed them), when O(refresh) is set, or when they are older than O(cache_valid_time).
  - Reports a change only when a package was installed.
options:
  name:
    description: The packages to install.
    type: list
    elements: str
    required: true
  cache_valid_time:
    description: Seconds for which present package lists are taken as current.
    type: int
    default: 3600
  refresh:
    description: Update the lists whatever their age (for example, a source was just added).
    type: bool
    default: false
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Install the packet filter tools
  fastapi_deploy.toolkit.apt_install:
    name: [iptables]
"""

RETURN = r"""
cache_updated:
  description: Whether the package lists were updated (from M(ansible.builtin.apt)).
  returned: success
  type: bool
"""
