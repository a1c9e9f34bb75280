"""Bad input stops site.yml in its validation play, naming the variable, before any change."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import REPO_DIR

testinfra_hosts = ["ansible://fastapi_servers"]

BAD_INPUTS = {
    "no domain": ({"proxy_domains": []}, "proxy_domains"),
    "malformed domain": ({"proxy_domains": ["not a domain"]}, "proxy_domains"),
    "domain not a list": ({"proxy_domains": {"name": "app.example.test"}}, "proxy_domains"),
    "no e-mail": ({"proxy_acme_email": ""}, "proxy_acme_email"),
    "malformed e-mail": ({"proxy_acme_email": "admin"}, "proxy_acme_email"),
    "zero workers": ({"app_workers": 0}, "app_workers"),
    "workers not a number": ({"app_workers": "many"}, "app_workers"),
    "prefix without slash": ({"proxy_path_prefix": "api/v1"}, "proxy_path_prefix"),
}


def run_site(extra_vars: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
            "--limit", "fastapi_servers", "-e", json.dumps(extra_vars), "site.yml",
        ],
        cwd=REPO_DIR, capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true"},
    )  # fmt: skip


@pytest.mark.parametrize(("extra_vars", "variable"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_fails_validation_naming_the_variable(
    extra_vars: dict[str, object], variable: str
) -> None:
    result = run_site(extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # The error itself names the variable: a type error from the argument specs, or a rule.
    named = rf"Action failed: (Validation of arguments failed:\s*argument '{variable}'|{variable}:)"
    assert re.search(named, output), output[-3000:]
    assert "PLAY [Validate the inventory]" in result.stdout
    assert "PLAY [Install the Docker engine]" not in result.stdout
    assert re.search(r"changed=0\s", result.stdout)
