"""The checkout builds into the collection fastapi_deploy.toolkit: what a user installs holds the
roles, plugins and playbooks, documents every role from its spec, and nothing of the toolkit's
own development."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (REPO_DIR / "roles").iterdir() if path.is_dir())
DEVELOPMENT_ONLY = [
    "app/", "harness/", "bench/", "molecule/", "tests/", "inventory/sandbox/", ".ci/",
    ".cache/", ".venv/", "collections/", "examples/", "docs/", "Makefile", "requirements-dev.txt",
]  # fmt: skip
SHIPPED = [
    "MANIFEST.json", "meta/runtime.yml", "playbooks/site.yml",
    "playbooks/deploy.yml", "playbooks/rollback.yml", "plugins/filter/releases.py",
    "plugins/lookup/app_source_digest.py", "plugins/modules/release_health.py",
    "plugins/filter/images.py", "plugins/modules/served_certificate.py", "playbooks/logs.yml",
    "playbooks/run.yml",
    "playbooks/status.yml", "playbooks/maintenance.yml", "playbooks/vars/apps.yml",
    "plugins/filter/apps.py", "plugins/filter/routes.py",
    *(f"roles/{role}/meta/argument_specs.yml" for role in ROLES),
]  # fmt: skip


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(out), str(REPO_DIR)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("fastapi_deploy-toolkit-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def members(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as archive:
        return [member.name + ("/" if member.isdir() else "") for member in archive.getmembers()]


@pytest.mark.parametrize("path", DEVELOPMENT_ONLY)
def test_build_leaves_out_what_only_development_needs(members: list[str], path: str) -> None:
    assert not [name for name in members if name == path or name.startswith(path)]


@pytest.mark.parametrize("path", SHIPPED)
def test_build_ships_what_a_server_needs(members: list[str], path: str) -> None:
    assert path in members


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_prints_each_roles_spec(role: str) -> None:
    shown = subprocess.run(
        ["ansible-doc", "-t", "role", f"fastapi_deploy.toolkit.{role}"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    ).stdout
    assert "ENTRY POINT: *main*" in shown
    assert f"{role}_" in shown
