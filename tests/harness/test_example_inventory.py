"""The example inventory is what a user copies: it parses, and its secrets are vault-encrypted."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_DIR / "inventory" / "example"
VAULT_FILE = EXAMPLE / "group_vars" / "fastapi_servers" / "vault.yml"
EXAMPLE_VAULT_PASSWORD = "example"  # documented in the example; the secret in it is fake


def test_example_secrets_are_encrypted() -> None:
    assert VAULT_FILE.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert "not-a-real-password" not in VAULT_FILE.read_text()


def test_example_secrets_decrypt_into_the_app_environment(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(EXAMPLE_VAULT_PASSWORD)
    result = subprocess.run(
        [
            "ansible-inventory", "-i", str(EXAMPLE / "hosts.yml"),
            "--vault-password-file", str(password_file), "--host", "web1",
        ],
        cwd=REPO_DIR, capture_output=True, text=True, check=True,
    )  # fmt: skip
    host_vars = json.loads(result.stdout)
    assert host_vars["vault_database_url"].startswith("postgresql://")
    assert host_vars["app_env"] == {"DATABASE_URL": "{{ vault_database_url }}"}


def test_site_playbook_parses_with_the_example_inventory(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(EXAMPLE_VAULT_PASSWORD)
    subprocess.run(
        [
            "ansible-playbook", "--syntax-check", "-i", str(EXAMPLE / "hosts.yml"),
            "--vault-password-file", str(password_file), "site.yml",
        ],
        cwd=REPO_DIR, capture_output=True, text=True, check=True,
    )  # fmt: skip
