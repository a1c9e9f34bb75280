"""Bad input stops site.yml in its first play, with an error naming the variable, and leaves a
fresh server exactly as it was: nothing installed, nothing written, nothing started."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import sandbox
from harness.common import REPO_DIR, SITE_PLAYBOOK, play_recap, run, run_playbook

FRESH = sandbox.Sandbox.named("fastapi-badinput", "172.28.196.10", https_port=0, http_port=0)

# A database that passes validation; each case below breaks one variable of it. Test values for
# a server that never gets that far, not secrets.
DATABASE = {
    "postgres_enabled": True,
    "postgres_superuser_password": "bad-input-test-superuser-value",
    "postgres_app_password": "bad-input-test-app-value",
}

# Off-site copies that pass validation; each case breaks one of their rules.
OFFSITE = {
    "offsite_enabled": True,
    "offsite_repositories": [
        {
            "repository": "s3:https://s3.example.test/backups/server",
            "environment": {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret"},
        }
    ],
    "offsite_password": "a-long-enough-repository-password",
    "offsite_paths": ["/var/backups/postgres"],
}
# Alerts that pass validation; each case breaks one of their rules.
ALERTS = {
    "alerts_enabled": True,
    "alerts_senders": [{"kind": "webhook", "url": "https://hooks.example.test/alerts"}],
}
BAD_INPUTS = {
    "no domain": ({"proxy_domains": []}, "proxy_domains"),
    "malformed domain": ({"proxy_domains": ["not a domain"]}, "proxy_domains"),
    "domain not a list": ({"proxy_domains": {"name": "app.example.test"}}, "proxy_domains"),
    "no e-mail": ({"proxy_acme_email": ""}, "proxy_acme_email"),
    "malformed e-mail": ({"proxy_acme_email": "admin"}, "proxy_acme_email"),
    "zero workers": ({"app_workers": 0}, "app_workers"),
    "workers not a number": ({"app_workers": "many"}, "app_workers"),
    "negative memory limit": ({"app_memory_limit": "-512m"}, "app_memory_limit"),
    "prefix without slash": ({"proxy_path_prefix": "api/v1"}, "proxy_path_prefix"),
    "unknown proxy engine": ({"proxy_engine": "nginx"}, "proxy_engine"),
    "SSH port out of range": ({"hardening_ssh_port": 70000}, "hardening_ssh_port"),
    "proxy address not an address": ({"proxy_network_address": "*"}, "proxy_network_address"),
    "firewall peer a network, not an address": (
        {"firewall_peers": [{"addresses": ["10.0.0.0/24"], "tcp_ports": [5432]}]}, "firewall_peers",
    ),
    "no source": ({"app_source_dir": ""}, "app_source_dir"),
    "source without a Dockerfile": ({"app_source_dir": str(REPO_DIR / "roles")}, "app_source_dir"),
    "both source and image": ({"app_image": "registry.example.test/demo/app:1.0"}, "app_image"),
    "image without tag or digest": (
        {"app_source_dir": "", "app_image": "registry.example.test/demo/app"},
        "app_image",
    ),
    "ASGI app not an import path": ({"app_asgi_app": "main.py"}, "app_asgi_app"),
    "root path unlike the proxy's prefix": ({"app_root_path": "/api/v2"}, "app_root_path"),
    "database without a password": (
        {**DATABASE, "postgres_superuser_password": ""}, "postgres_superuser_password",
    ),
    "database password a default one": (
        {**DATABASE, "postgres_app_password": "changeme"}, "postgres_app_password",
    ),
    "database password too short": (
        {**DATABASE, "postgres_app_password": "short-pw"}, "postgres_app_password",
    ),
    "database name not an identifier": (
        {**DATABASE, "postgres_app_database": "my-app"}, "postgres_app_database",
    ),
    "database major version not a number": (
        {**DATABASE, "postgres_version": "latest"}, "postgres_version",
    ),
    "app holding the superuser's password": (
        {**DATABASE, "postgres_app_password": DATABASE["postgres_superuser_password"]},
        "postgres_app_password",
    ),
    "database name reserved": (
        {**DATABASE, "postgres_app_database": "postgres"}, "postgres_app_database",
    ),
    # Trusting forwarded headers from more than the proxy lets any neighbour forge client addresses.
    "forwarded headers trusted from a subnet": (
        {"app_forwarded_allow_ips": "172.30.0.0/24"}, "app_forwarded_allow_ips",
    ),
    "forwarded headers trusted from anyone": (
        {"app_forwarded_allow_ips": "*"}, "app_forwarded_allow_ips",
    ),
    "registry user without a password": (
        {"app_source_dir": "", "app_image": "registry.example.test/demo/app:1.0",
         "app_registry_username": "deploy"},
        "app_registry_password",
    ),
    "registry password without a user": (
        {"app_source_dir": "", "app_image": "registry.example.test/demo/app:1.0",
         "app_registry_password": "bad-input-test-registry-value"},
        "app_registry_username",
    ),
    "release not a tag": ({"app_release": "release one"}, "app_release"),
    "negative releases kept": ({"app_keep_releases": -1}, "app_keep_releases"),
    "release header not a header name": ({"app_release_header": "X Release"}, "app_release_header"),
    "root path ending in a slash": ({"app_root_path": "/api/v1/"}, "app_root_path"),
    "firewall SSH port out of range": ({"firewall_ssh_port": 0}, "firewall_ssh_port"),
    "firewall port out of range": (
        {"firewall_allowed_tcp_ports": [8080, 70000]}, "firewall_allowed_tcp_ports",
    ),
    "negative connections per client": (
        {"firewall_connections_per_client": -1}, "firewall_connections_per_client",
    ),
    "app name unfit for a container": ({"app_name": "My App"}, "app_name"),
    "no proxy network for the app": ({"app_network": ""}, "app_network"),
    "registry CA not a file": (
        {"app_source_dir": "", "app_image": "registry.example.test/demo/app:1.0",
         "app_registry_ca_file": "/nonexistent/registry-ca.pem"},
        "app_registry_ca_file",
    ),
    "daemon options not a mapping": (
        {"docker_daemon_options": ["log-driver", "local"]}, "docker_daemon_options",
    ),
    "deploy user not a user name": (
        {"hardening_deploy_user": "Deploy User"}, "hardening_deploy_user",
    ),
    "superuser password too short": (
        {**DATABASE, "postgres_superuser_password": "short-pw"}, "postgres_superuser_password",
    ),
    "superuser password a default one": (
        {**DATABASE, "postgres_superuser_password": "postgres"}, "postgres_superuser_password",
    ),
    "app database without a password": (
        {**DATABASE, "postgres_app_password": ""}, "postgres_app_password",
    ),
    "app role reserved": ({**DATABASE, "postgres_app_user": "postgres"}, "postgres_app_user"),
    "database container name unfit": (
        {**DATABASE, "postgres_name": "Postgres DB"}, "postgres_name",
    ),
    "database memory limit not a size": (
        {**DATABASE, "postgres_memory_limit": "0"}, "postgres_memory_limit",
    ),
    "no scheduled backup kept": ({**DATABASE, "postgres_backup_keep": 0}, "postgres_backup_keep"),
    "backup directory relative": (
        {**DATABASE, "postgres_backup_dir": "backups"}, "postgres_backup_dir",
    ),
    "backup name a path": (
        {**DATABASE, "postgres_backup_name": "../escape"}, "postgres_backup_name",
    ),
    "restore of a path outside the backups": (
        {**DATABASE, "postgres_restore_backup": "../../etc/shadow"}, "postgres_restore_backup",
    ),
    "proxy range not a range": (
        {"proxy_network_dynamic_range": "172.31.240.128"}, "proxy_network_dynamic_range",
    ),
    "proxy memory limit not a size": ({"proxy_memory_limit": "lots"}, "proxy_memory_limit"),
    "proxy timeout of zero": ({"proxy_idle_timeout": 0}, "proxy_idle_timeout"),
    "engine switch with no time for certificates": (
        {"proxy_switch_certificate_timeout": 0}, "proxy_switch_certificate_timeout",
    ),
    "redis without a password": ({"redis_enabled": True, "redis_password": ""}, "redis_password"),
    "redis eviction policy unknown": (
        {"redis_enabled": True, "redis_password": "a-long-enough-password",
         "redis_maxmemory_policy": "lru"},
        "redis_maxmemory_policy",
    ),
    "negative request body limit": ({"proxy_max_request_body_mb": -1}, "proxy_max_request_body_mb"),
    "process command a string": (
        {"app_processes": [{"name": "worker", "command": "arq app.queue.WorkerSettings"}]},
        "app_processes[0].command",
    ),
    "process stop signal unknown": (
        {"app_processes": [{"name": "worker", "command": ["arq"], "stop_signal": "TERM"}]},
        "app_processes[0].stop_signal",
    ),
    "off-site repository on the server's own disk": (
        {**OFFSITE, "offsite_repositories": [{"repository": "/var/backups/restic"}]},
        "offsite_repositories[0].repository",
    ),
    "off-site copies without a password": ({**OFFSITE, "offsite_password": ""}, "offsite_password"),
    "off-site copies of nothing": ({**OFFSITE, "offsite_paths": []}, "offsite_paths"),
    "off-site retention that keeps nothing": (
        {**OFFSITE, "offsite_keep_daily": 0, "offsite_keep_weekly": 0, "offsite_keep_monthly": 0},
        "offsite_keep_daily",
    ),
    "off-site SFTP host whose key is not given": (
        {**OFFSITE, "offsite_repositories": [{
            "repository": "sftp:web1@backup.example.test:/srv/restic/web1",
            "ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n",
        }]},
        "offsite_repositories[0].ssh_known_hosts",
    ),
    "off-site age limit of zero": (
        {**OFFSITE, "offsite_max_age_hours": 0}, "offsite_max_age_hours",
    ),
    "off-site S3 repository without its keys": (
        {**OFFSITE, "offsite_repositories": [{"repository": "s3:https://s3.example.test/b/s"}]},
        "offsite_repositories[0].environment",
    ),
    "alerts on with no sender": ({**ALERTS, "alerts_senders": []}, "alerts_senders"),
    "alerts sender of an unknown kind": (
        {**ALERTS, "alerts_senders": [{"kind": "slack", "url": "https://hooks.example.test/a"}]},
        "alerts_senders[0].kind",
    ),
    "alerts webhook without its URL": (
        {**ALERTS, "alerts_senders": [{"kind": "webhook"}]}, "alerts_senders[0].url",
    ),
    "alerts e-mail without a recipient": (
        {**ALERTS, "alerts_senders": [{"kind": "email"}]}, "alerts_senders[0].to",
    ),
    "alerts disk threshold out of range": (
        {**ALERTS, "alerts_disk_min_free": 1.5}, "alerts_disk_min_free",
    ),
    "alerts restart limit negative": (
        {**ALERTS, "alerts_restart_limit": -1}, "alerts_restart_limit",
    ),
    "alerts backup age limit of zero": (
        {**ALERTS, "alerts_backup_max_age_hours": 0}, "alerts_backup_max_age_hours",
    ),
    "alerts heartbeat not a URL": (
        {**ALERTS, "alerts_heartbeat_url": "ping me"}, "alerts_heartbeat_url",
    ),
}  # fmt: skip

# What any run that got past validation would have left on the server.
TRACES = [
    "/usr/bin/dockerd",
    "/etc/docker/daemon.json",
    "/etc/ssh/sshd_config.d/50-fastapi-hardening.conf",
    "/etc/fastapi-proxy",
    "/opt/fastapi-app",
    "/usr/local/sbin/fastapi-firewall",
    "/etc/fastapi-deploy",
]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh server container, with the sandbox's variables, and no Pebble (never reached)."""
    sandbox.down(FRESH)
    sandbox.create_network(FRESH)
    sandbox.start_server(FRESH)
    sandbox.wait_for_systemd(FRESH)
    directory = tmp_path_factory.mktemp("inventory")
    (directory / "group_vars").symlink_to(REPO_DIR / "inventory" / "sandbox" / "group_vars")
    hosts = {
        "fastapi_servers": {
            "hosts": {
                FRESH.server: {
                    "ansible_connection": "community.docker.docker",
                    "sandbox_pebble_address": FRESH.pebble_address,
                    # This inventory is not the checkout's: say where the checkout is.
                    "sandbox_checkout": str(REPO_DIR),
                }
            }
        }
    }
    (directory / "hosts.yml").write_text(json.dumps(hosts))
    yield directory / "hosts.yml"
    sandbox.down(FRESH)


def run_site(inventory: Path, extra_vars: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return run_playbook(SITE_PLAYBOOK, inventory=inventory, extra_vars=extra_vars, timeout=300)


# Each run spends most of its time waiting on the server container (facts, validation), not on
# this machine's CPU: the cases run a few at a time, each test then reads its own run.
CONCURRENT_RUNS = 4


def selected_cases(session: pytest.Session) -> list[str]:
    """The cases of this module's tests that the session runs (-k picks some)."""
    return [
        item.callspec.params["case"]
        for item in session.items
        if item.path == Path(__file__) and hasattr(item, "callspec")
    ]


@pytest.fixture(scope="module")
def runs(
    inventory: Path, request: pytest.FixtureRequest
) -> dict[str, subprocess.CompletedProcess[str]]:
    """site.yml with each selected case's bad input, against the same fresh server."""
    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        futures = {
            case: pool.submit(run_site, inventory, BAD_INPUTS[case][0])
            for case in selected_cases(request.session)
        }
        return {case: future.result() for case, future in futures.items()}


def traces_left() -> list[str]:
    return [
        path
        for path in TRACES
        if run("docker", "exec", FRESH.server, "test", "-e", path, check=False).returncode == 0
    ]


@pytest.mark.parametrize("case", BAD_INPUTS.keys())
def test_bad_input_fails_naming_the_variable_and_changes_nothing(
    runs: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    result = runs[case]
    variable = BAD_INPUTS[case][1]
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # The error itself names the variable: a type error from the argument specs, or a rule.
    named = (
        r"Action failed: (Validation of arguments failed:\s*(argument '|value of )"
        rf"{re.escape(variable)}|{re.escape(variable)}:)"
    )
    assert re.search(named, output), output[-3000:]
    assert "PLAY [Harden the host]" not in result.stdout
    # The server's own line of the recap (the first play's localhost line always says 0).
    assert play_recap(result.stdout)[FRESH.server]["changed"] == 0
    # Every case has run by now: none of them left anything on the server.
    assert traces_left() == []
