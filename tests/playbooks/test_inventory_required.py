"""A run without an inventory stops at once with a message that says what to pass, instead of
matching no host and ending "successfully" (ansible.cfg names no default inventory, so no
run can reach the sandbox by accident)."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness.common import ANSIBLE_CFG, REPO_DIR


@pytest.mark.parametrize("playbook", ["site.yml", "playbooks/deploy.yml", "playbooks/rollback.yml"])
def test_a_run_without_an_inventory_fails_saying_to_pass_one(playbook: str) -> None:
    result = subprocess.run(
        ["ansible-playbook", playbook],
        cwd=REPO_DIR, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_CFG), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "No server in 'fastapi_servers': pass your inventory with -i" in result.stdout
    assert "PLAY [Validate the inventory]" not in result.stdout
