"""`harness/sandbox.py up` gives a user on this host a verified HTTPS answer; `down` cleans up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import sandbox
from harness.common import (
    DEPLOY_PLAYBOOK,
    REPO_DIR,
    SITE_PLAYBOOK,
    TASK_BUDGETS,
    app_version,
    play_recap,
    run_playbook,
    task_names,
)

SANDBOX = sandbox.Sandbox.from_inventory()
SITE = sandbox.site()
URL = SITE.url(port=SANDBOX.https_port)
RESOLVE = f"{SITE.domain}:{SANDBOX.https_port}:127.0.0.1"


def run_sandbox(action: str) -> None:
    subprocess.run([sys.executable, "-m", "harness.sandbox", action], cwd=REPO_DIR, check=True)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--resolve", RESOLVE, *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def sandbox_objects() -> list[str]:
    containers = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"name={SANDBOX.network}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    networks = subprocess.run(
        ["docker", "network", "ls", "--format", "{{.Name}}", "--filter", f"name={SANDBOX.network}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return containers + networks


@pytest.fixture(scope="module")
def sandbox_up() -> Iterator[None]:
    run_sandbox("down")
    run_sandbox("up")
    yield
    run_sandbox("down")


def test_site_answers_verified_https_on_loopback(sandbox_up: None) -> None:
    result = curl("--cacert", str(sandbox.PEBBLE_ROOT), URL)
    assert result.returncode == 0, result.stderr
    assert '"Hello"' in result.stdout


def test_site_does_not_verify_without_the_pebble_root(sandbox_up: None) -> None:
    assert curl("--cacert", "/etc/ssl/certs/ca-certificates.crt", URL).returncode == 60


def test_port_80_redirects_to_https(sandbox_up: None) -> None:
    url = f"http://{SITE.domain}:{SANDBOX.http_port}{SITE.path()}"
    resolve = f"{SITE.domain}:{SANDBOX.http_port}:127.0.0.1"
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--resolve", resolve, url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout == "308"


def test_a_site_rerun_changes_nothing_within_its_task_budget(sandbox_up: None) -> None:
    result = run_playbook(SITE_PLAYBOOK)
    assert result.returncode == 0, result.stdout[-3000:]
    server = play_recap(result.stdout)[SANDBOX.server]
    assert server["changed"] == 0, result.stdout[-3000:]
    print(f"site.yml rerun: {server['tasks']} tasks")
    assert server["tasks"] <= TASK_BUDGETS["site_rerun"], "\n".join(task_names(result.stdout))


def test_a_code_only_deploy_goes_live_within_its_task_budget(
    sandbox_up: None, tmp_path: Path
) -> None:
    source = app_version(tmp_path, "budget")
    result = run_playbook(DEPLOY_PLAYBOOK, extra_vars={"app_source_dir": str(source)})
    assert result.returncode == 0, result.stdout[-3000:]
    server = play_recap(result.stdout)[SANDBOX.server]
    print(f"code-only deploy: {server['tasks']} tasks")
    assert server["tasks"] <= TASK_BUDGETS["deploy_code_only"], "\n".join(task_names(result.stdout))
    assert "Build the app image" in result.stdout  # a real build, not the image found again


def test_down_removes_every_container_and_network(sandbox_up: None) -> None:
    run_sandbox("down")
    assert sandbox_objects() == []
