"""Several apps on one server, as the playbooks take them: bad fastapi_apps stop the run in its
first play (before any server is reached), naming the apps; a day-2 playbook asks which app
when there are several; the two-environments example parses, its secrets vault-encrypted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import apps as filters

from harness.common import ANSIBLE_CFG, REPO_DIR

EXAMPLE = REPO_DIR / "examples" / "two-environments"
EXAMPLE_VAULT = EXAMPLE / "group_vars" / "fastapi_servers" / "vault.yml"
EXAMPLE_VAULT_PASSWORD = "example"  # documented in the example; its secrets are fake
# A server no run may reach: the first play must stop before any connection (were one tried, a
# closed port of this machine refuses it at once: no other address is ever contacted).
UNREACHABLE = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh"}


def ansible(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=REPO_DIR, capture_output=True, text=True, check=False, timeout=timeout,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_CFG), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip


def inventory(tmp_path: Path, apps: list[dict[str, Any]], **host: Any) -> Path:  # noqa: ANN401
    path = tmp_path / "hosts.yml"
    variables = {
        "proxy_domains": ["app.example.com"], "proxy_acme_email": "ops@example.com",
        "fastapi_apps": apps, **host,
    }  # fmt: skip
    path.write_text(yaml.safe_dump({"fastapi_servers": {"hosts": {"web1": variables}}}))
    return path


BAD_APPS = {
    "two apps of one name": (
        [{"name": "api", "domains": ["a.example.com"]},
         {"name": "api", "domains": ["b.example.com"]}],
        "fastapi_apps: two apps are named 'api'",
    ),
    "one domain and prefix claimed twice": (
        [{"name": "one", "domains": ["example.com"], "path_prefix": "/v1"},
         {"name": "two", "domains": ["example.com"], "path_prefix": "/v1"}],
        "apps 'one' and 'two' both claim example.com/v1",
    ),
    "a name unfit for a container": (
        [{"name": "My App", "domains": ["example.com"]}],
        "fastapi_apps: app 'My App': the name must be",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("apps", "said"), BAD_APPS.values(), ids=BAD_APPS.keys())
def test_bad_apps_stop_the_run_in_its_first_play_naming_them(
    tmp_path: Path, apps: list[dict[str, Any]], said: str
) -> None:
    result = ansible(
        "ansible-playbook", "-i", str(inventory(tmp_path, apps, **UNREACHABLE)), "site.yml"
    )
    assert result.returncode != 0
    assert said in result.stdout
    assert "web1: fastapi_apps" in result.stdout
    assert "PLAY [Validate the inventory]" not in result.stdout


def test_a_day2_playbook_with_several_apps_asks_which_one(tmp_path: Path) -> None:
    apps = [{"name": "staging", "domains": ["staging.example.com"]},
            {"name": "production", "domains": ["example.com"]}]  # fmt: skip
    # This machine stands for the server: the validation play only reads its facts.
    hosts = inventory(
        tmp_path, apps, ansible_connection="local", ansible_python_interpreter=sys.executable,
        app_source_dir=str(REPO_DIR / "app"),
    )  # fmt: skip
    result = ansible("ansible-playbook", "-i", str(hosts), "playbooks/logs.yml")
    assert result.returncode != 0
    assert "several apps (staging, production): name one with -e app=<name>" in result.stdout
    assert "TASK [fastapi_deploy.toolkit.app" not in result.stdout


def test_the_two_environments_example_has_its_secrets_encrypted() -> None:
    text = EXAMPLE_VAULT.read_text()
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert "not-a-real" not in text


def test_the_two_environments_example_is_two_apps_each_with_its_own_secrets(
    tmp_path: Path,
) -> None:
    password = tmp_path / "password"
    password.write_text(EXAMPLE_VAULT_PASSWORD)
    result = ansible(
        "ansible-inventory", "-i", str(EXAMPLE / "hosts.yml"), "--vault-password-file",
        str(password), "--host", "web1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    host_vars = json.loads(result.stdout)
    apps = host_vars["fastapi_apps"]
    assert filters.problems(apps) == []
    assert [(a["name"], a["domains"][0]) for a in apps] == [
        ("staging", "staging.example.com"), ("production", "example.com"),
    ]  # fmt: skip
    assert apps[0]["env"]["SECRET_KEY"] == "{{ vault_staging_secret_key }}"
    assert apps[1]["env"]["SECRET_KEY"] == "{{ vault_production_secret_key }}"
    assert host_vars["vault_staging_secret_key"] != host_vars["vault_production_secret_key"]


def test_site_playbook_parses_with_the_two_environments_example(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text(EXAMPLE_VAULT_PASSWORD)
    result = ansible(
        "ansible-playbook", "--syntax-check", "-i", str(EXAMPLE / "hosts.yml"),
        "--vault-password-file", str(password), "site.yml",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
