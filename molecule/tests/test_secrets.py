"""App secrets reach the container through a root-only file and never appear in Ansible's
output. The test converges once with a secret (verbose, as a debugging operator would), then
deploys the app once more with the scenario's environment (playbooks/app.yml: only the app's
environment changed), so the server ends as the scenario made it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import testinfra
from conftest import converge_site, live_release, run_playbook

from harness.common import APP_PLAYBOOK

testinfra_hosts = ["ansible://fastapi_servers"]


@pytest.fixture(scope="module")
def secret() -> str:
    return f"s3cret-{secrets.token_hex(16)}"


@pytest.fixture(scope="module")
def converge_output(secret: str, inventory_vars: dict[str, Any]) -> Iterator[str]:
    # The scenario's own environment (its queue's URL, say) with the secret beside it.
    environment = {**inventory_vars.get("app_env", {}), "DEMO_API_TOKEN": secret}
    yield converge_site({"app_env": environment}, "-vv", "--diff")
    restored = run_playbook(APP_PLAYBOOK, {})
    assert restored.returncode == 0, restored.stdout[-3000:]


def test_secret_is_not_in_the_converge_output(converge_output: str, secret: str) -> None:
    assert "Start the release's container" in converge_output  # the output is really there
    assert secret not in converge_output


def test_secret_is_in_the_root_only_env_file(
    host: testinfra.host.Host, converge_output: str, secret: str
) -> None:
    env_file = host.file("/etc/fastapi-app/app.env")
    assert (env_file.user, env_file.mode) == ("root", 0o600)
    assert f"DEMO_API_TOKEN={secret}" in env_file.content_string


def test_app_receives_the_secret(
    host: testinfra.host.Host, converge_output: str, secret: str
) -> None:
    value = host.check_output(f"docker exec {live_release(host)['live']} printenv DEMO_API_TOKEN")
    assert value == secret


def test_database_passwords_are_not_in_the_converge_output(
    converge_output: str, inventory_vars: dict[str, Any]
) -> None:
    assert "Try each role's password" in converge_output  # the database's tasks really ran
    for variable in ("postgres_superuser_password", "postgres_app_password"):
        assert str(inventory_vars[variable]) not in converge_output, variable
