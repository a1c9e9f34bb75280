"""The collection is self-contained: examples/consumer, a service of its own in a repository of
its own, is deployed from the built and installed collection alone (not this checkout's roles)
to a fresh server container, with Pebble as the ACME CA, and serves over verified HTTPS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import common, sandbox
from harness.common import REPO_DIR

EXAMPLE_DIR = REPO_DIR / "examples" / "consumer"
SANDBOX_VARS = REPO_DIR / "inventory" / "sandbox" / "group_vars" / "fastapi_servers.yml"
# What the sandbox replaces on any server (sources, CA, resolvers); the example's inventory
# keeps everything else.
SANDBOX_SOURCES = [
    "docker_install_source", "docker_daemon_options", "proxy_acme_ca", "proxy_acme_ca_root",
    "proxy_extra_hosts", "proxy_caddy_image", "proxy_traefik_image", "proxy_image_archive",
    "app_base_image", "app_base_image_archive", "app_build_ca_file",
]  # fmt: skip
CONSUMER = sandbox.Sandbox.named("fastapi-consumer", "172.28.195.10", https_port=0, http_port=0)


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = common.run(*command, cwd=cwd, env=env, check=False, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example copied out of the checkout, with the collection built into its dist/."""
    directory = tmp_path_factory.mktemp("consumer") / "service"
    shutil.copytree(EXAMPLE_DIR, directory)
    run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(directory / "dist"),
         str(REPO_DIR)],
        cwd=REPO_DIR, env=dict(os.environ),
    )  # fmt: skip
    return directory


@pytest.fixture(scope="module")
def collections(project: Path) -> Path:
    """Its requirements.yml installed into a collections path of its own. The dependencies are
    put there first from this machine's offline copies (no Galaxy here); the collection itself
    comes only from the tarball."""
    path = project.parent / "collections"
    for namespace in ("community", "ansible"):
        (path / "ansible_collections").mkdir(parents=True, exist_ok=True)
        (path / "ansible_collections" / namespace).symlink_to(
            REPO_DIR / "collections" / "ansible_collections" / namespace
        )
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(path)}
    install = ["ansible-galaxy", "collection", "install", "-r", "requirements.yml"]
    run([*install, "-p", str(path), "--offline"], cwd=project, env=env)
    return path


@pytest.fixture(scope="module")
def deployed(project: Path, collections: Path) -> Iterator[subprocess.CompletedProcess[str]]:
    sandbox.down(CONSUMER)
    sandbox.create_network(CONSUMER)
    sandbox.start_pebble(CONSUMER)
    sandbox.start_server(CONSUMER)
    sandbox.wait_for_systemd(CONSUMER)
    sources = yaml.safe_load(SANDBOX_VARS.read_text())
    host = {
        "ansible_connection": "community.docker.docker",
        "ansible_host": CONSUMER.server,
        "ansible_user": "root",
        "sandbox_checkout": str(REPO_DIR),
        "sandbox_pebble_address": CONSUMER.pebble_address,
        # Pebble validates the name Docker's DNS gives the server on this network.
        "proxy_domains": [sandbox.site().domain],
        **{name: sources[name] for name in SANDBOX_SOURCES},
    }
    overlay = project.parent / "sandbox.yml"
    overlay.write_text(json.dumps({"web": {"hosts": {"web1": host}}}))
    # Only the installed collection: no roles path, no ansible.cfg of this checkout.
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_ROLES_PATH": str(project / "roles"),
        "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "true",
    }
    command = ["ansible-playbook", "-i", "inventory", "-i", str(overlay), "playbook.yml"]
    yield run(command, cwd=project, env=env)
    sandbox.down(CONSUMER)


@pytest.fixture(scope="module")
def pebble_root(
    deployed: subprocess.CompletedProcess[str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = sandbox.https_get(
        CONSUMER.pebble_address, 15000, "pebble", "/roots/0", sandbox.PEBBLE_HTTPS_CA
    )
    path = tmp_path_factory.mktemp("pebble") / "root.pem"
    path.write_text(root)
    return path


def get(path: str, cafile: Path, headers: dict[str, str] | None = None) -> str:
    return sandbox.https_get(
        CONSUMER.server_address, 443, sandbox.site().domain, path, cafile, headers
    )


def test_roles_and_plugins_came_from_the_installed_collection(
    deployed: subprocess.CompletedProcess[str], collections: Path
) -> None:
    assert "TASK [fastapi_deploy.toolkit.app : " in deployed.stdout
    assert str(REPO_DIR / "roles") not in deployed.stdout
    installed = collections / "ansible_collections" / "fastapi_deploy" / "toolkit"
    assert (installed / "MANIFEST.json").is_file() and not installed.is_symlink()


def test_service_answers_its_health_path_over_verified_https(pebble_root: Path) -> None:
    assert json.loads(get("/healthz", pebble_root)) == {"status": "ok"}


def test_service_serves_its_own_routes(pebble_root: Path) -> None:
    assert [item["name"] for item in json.loads(get("/items", pebble_root))] == [
        "widget", "gadget",
    ]  # fmt: skip


def test_service_sees_the_clients_address_and_https_through_the_proxy(pebble_root: Path) -> None:
    seen = json.loads(get("/whoami", pebble_root))
    gateway = CONSUMER.subnet.rsplit(".", 1)[0] + ".1"
    assert seen == {
        "client": gateway,
        "scheme": "https",
        "host": sandbox.site().domain,
        "root_path": "",
    }


def test_service_ignores_forwarded_headers_a_client_forges(pebble_root: Path) -> None:
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http", "Forwarded": "for=6.6.6.6"}
    seen = json.loads(get("/whoami", pebble_root, forged))
    assert seen["client"] != "6.6.6.6"
    assert seen["scheme"] == "https"
