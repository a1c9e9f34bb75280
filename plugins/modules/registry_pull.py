"""The documentation of the action plugin registry_pull (plugins/action/registry_pull.py), which
runs the docker_login and docker_image_pull modules in one task: Ansible reads an action's
documentation from its module file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_pull
short_description: Pull an image, logged in to its registry for that pull alone
description:
  - Pulls O(name) with M(community.docker.docker_image_pull).
  - With O(username), logs in to O(registry) first (M(community.docker.docker_login)) and logs
    out after the pull whether it worked or not, so Docker's config keeps no password. A dry run
    does not log in.
  - A failure names its step (the login or the pull) and the registry, never the password.
options:
  name:
    description: The image reference to pull (a tag or a digest).
    type: str
    required: true
  pull:
    description: V(always) asks the registry each time, V(not_present) only for an image not there.
    type: str
    choices: [always, not_present]
    default: always
  timeout:
    description: Seconds each call to the Docker daemon may take.
    type: int
    default: 600
  registry:
    description: The registry's host (and port), as in the image reference.
    type: str
    required: true
  username:
    description: The registry's user; none, no login.
    type: str
    default: ""
  password:
    description: The registry user's password.
    type: str
    default: ""
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Pull the image
  fastapi_deploy.toolkit.registry_pull:
    name: registry.example.com/team/app:1.4
    registry: registry.example.com
    username: deploy
    password: "{{ vault_registry_password }}"
"""

RETURN = r"""
image:
  description: The image pulled, as Docker inspects it (from M(community.docker.docker_image_pull)).
  returned: success
  type: dict
"""
