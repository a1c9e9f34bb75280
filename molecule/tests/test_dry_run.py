"""A dry run of the converged server (site.yml --check) neither fails nor reports a change: what
`--check` shows an operator is what a run would do, and on a converged server that is nothing.
It runs first, on the server as converge and idempotence left it."""

from __future__ import annotations

import re

import pytest
from conftest import run_playbook, scenario_name

from harness.common import SITE_PLAYBOOK, play_recap


@pytest.mark.runs_first
def test_a_dry_run_of_the_converged_server_fails_nothing_and_changes_nothing() -> None:
    # An empty app name: every app of the server, as a plain `ansible-playbook site.yml --check`.
    result = run_playbook(SITE_PLAYBOOK, {"app": ""}, "--check")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    server = play_recap(result.stdout)[f"fd-{scenario_name()}-server"]
    changed = re.findall(r"^TASK \[(.+?)\] \**\nchanged:", result.stdout, flags=re.MULTILINE)
    assert server["changed"] == 0, changed
