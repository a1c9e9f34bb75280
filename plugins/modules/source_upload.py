"""The documentation of the action plugin source_upload (plugins/action/source_upload.py), which
packs on the controller: Ansible reads an action's documentation from its module file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: source_upload
short_description: Ship a source directory to the server as one archive, unpacked there
description:
  - Packs the files of O(src) on the controller that the release's digest covers (the lookup
    fastapi_deploy.toolkit.app_source_digest - what the tree's .dockerignore keeps, without
    caches), transfers the archive once, creates O(dest) and unpacks it there.
  - Leaves no archive behind, on the controller or on the server. Always reports a change; in
    check mode it ships nothing.
options:
  src:
    description: The source directory on the controller.
    type: path
    required: true
  dest:
    description: The directory on the server to create and unpack into.
    type: path
    required: true
  owner:
    description: Owner of O(dest) and of the unpacked files.
    type: str
  group:
    description: Group of O(dest) and of the unpacked files.
    type: str
  mode:
    description: Mode of the unpacked files (symbolic modes such as V(u=rwX,go=rX) welcome).
    type: raw
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Ship the source to a build directory of its own on the server
  fastapi_deploy.toolkit.source_upload:
    src: "{{ app_source_dir }}"
    dest: /opt/fastapi-app/1a2b3c4d5e6f
    owner: root
    group: root
    mode: u=rwX,go=rX
"""

RETURN = r"""
files:
  description: How many files were shipped.
  returned: success
  type: int
"""
