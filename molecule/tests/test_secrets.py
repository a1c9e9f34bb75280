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

from harness.common import APP_PLAYBOOK, CACHE_DIR

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


def test_off_site_secrets_are_not_in_the_converge_output(
    converge_output: str, inventory_vars: dict[str, Any]
) -> None:
    assert inventory_vars.get("offsite_enabled"), "this scenario copies no backups off-site"
    # The tasks that write them really ran.
    assert "Write the repositories with their credentials" in converge_output
    assert "Write each SFTP host's login key" in converge_output
    secrets_of_theirs = [str(inventory_vars["offsite_password"])]
    for entry in inventory_vars["offsite_repositories"]:
        secrets_of_theirs += [str(value) for value in entry.get("environment", {}).values()]
    # The SFTP login key's body (the inventory reads it from the harness's export).
    key_lines = (CACHE_DIR / "backup-host-key").read_text().splitlines()[1:-1]
    secrets_of_theirs += [line for line in key_lines if len(line) > 20]
    leaked = [secret for secret in secrets_of_theirs if secret in converge_output]
    assert not leaked, f"{len(leaked)} off-site secret(s) in the output"
