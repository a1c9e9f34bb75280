"""A swarm's inventory, as the playbooks take it: groups that cannot make a swarm stop the run in
its first play (before any server is reached), naming the group; the swarm's and the firewall's
peers' variables are checked by the validation play, naming the variable; a good swarm passes;
the day-2 playbooks act on the single servers and on the swarm's first manager in plays of their
own, and without a swarm name no absent group."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.common import ANSIBLE_CFG, REPO_DIR

# A server no run may reach: the first play must stop before any connection (were one tried, a
# closed port of this machine refuses it at once: no other address is ever contacted).
UNREACHABLE = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh"}
# This machine stands for every server: the validation play only reads its facts.
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
SERVER_VARS = {
    "proxy_domains": ["app.example.com"],
    "proxy_acme_email": "ops@example.com",
    # A swarm's apps run an image from a registry (nothing is pulled by the validation).
    "app_image": "registry.example.com/team/api:1.0",
}
GOOD = {"swarm_managers": ["m1"], "swarm_workers": ["w1", "w2"], "swarm_edge": ["m1"]}


def ansible(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=REPO_DIR, capture_output=True, text=True, check=False, timeout=timeout,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_CFG), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip


def inventory(
    tmp_path: Path,
    groups: dict[str, list[str]],
    connection: dict[str, Any],
    **variables: Any,  # noqa: ANN401
) -> Path:
    """Every host of the groups in fastapi_servers, and the groups as given."""
    hosts = sorted({host for members in groups.values() for host in members})
    tree: dict[str, Any] = {
        "fastapi_servers": {
            "hosts": dict.fromkeys(hosts, connection),
            "vars": {**SERVER_VARS, **variables},
        }
    }
    tree.update({name: {"hosts": dict.fromkeys(members)} for name, members in groups.items()})
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": tree}}))
    return path


BAD_GROUPS = {
    "no manager": ({"swarm_workers": ["w1", "w2"]}, "swarm_managers: no manager"),
    "an even number of managers": (
        {"swarm_managers": ["m1", "m2"], "swarm_workers": ["w1"]}, "swarm_managers: 2 managers",
    ),
    "a host both manager and worker": (
        {"swarm_managers": ["m1"], "swarm_workers": ["w1", "m1"]},
        "swarm_workers: m1 also in swarm_managers",
    ),
    "the database host a worker too": (
        {**GOOD, "swarm_database": ["w2"]},
        "swarm_database: w2 also in swarm_managers or swarm_workers",
    ),
    "the database host a manager too": (
        {**GOOD, "swarm_database": ["m1"], "swarm_edge": []},
        "swarm_database: m1 also in swarm_managers or swarm_workers",
    ),
    "an edge node outside the swarm": (
        {**GOOD, "swarm_edge": ["db"], "swarm_database": ["db"]},
        "swarm_edge: db not a swarm node",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("groups", "said"), BAD_GROUPS.values(), ids=BAD_GROUPS.keys())
def test_bad_swarm_groups_stop_the_run_in_its_first_play_naming_the_group(
    tmp_path: Path, groups: dict[str, list[str]], said: str
) -> None:
    result = ansible(
        "ansible-playbook", "-i", str(inventory(tmp_path, groups, UNREACHABLE)), "site.yml"
    )
    assert result.returncode != 0
    assert said in result.stdout
    assert "PLAY [Validate the inventory]" not in result.stdout


PROCESSES = {"app_processes": [{"name": "worker", "command": ["arq", "app.WorkerSettings"]}]}


@pytest.mark.parametrize(
    ("groups", "variables"),
    [(GOOD, {}), ({**GOOD, "swarm_database": ["db"]}, {}), (GOOD, PROCESSES)],
    ids=["nodes", "nodes and a database", "an app with a process"],
)
def test_a_good_swarm_passes_the_validation(
    tmp_path: Path, groups: dict[str, list[str]], variables: dict[str, Any]
) -> None:
    hosts = inventory(tmp_path, groups, LOCAL, **variables)
    result = ansible("ansible-playbook", "-i", str(hosts), "playbooks/validate.yml")
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("playbook_roles", [None, ["proxy", "app"]], ids=["site", "deploy"])
def test_the_database_server_needs_no_proxy_or_app_settings(
    tmp_path: Path, playbook_roles: list[str] | None
) -> None:
    """The swarm's database server runs neither: a run checks neither there, also where the
    playbook asks for both (deploy.yml)."""
    hosts = inventory(tmp_path, {**GOOD, "swarm_database": ["db"]}, LOCAL)
    tree = yaml.safe_load(hosts.read_text())
    tree["all"]["children"]["swarm_database"]["hosts"]["db"] = {
        "proxy_domains": [], "proxy_acme_email": "", "app_image": "",
    }  # fmt: skip
    hosts.write_text(yaml.safe_dump(tree))
    extra = ["-e", json.dumps({"validate_roles": playbook_roles})] if playbook_roles else []
    result = ansible("ansible-playbook", "-i", str(hosts), *extra, "playbooks/validate.yml")
    assert result.returncode == 0, result.stdout[-3000:]


BAD_VARIABLES = {
    "network named as Docker's ingress": ({"swarm_network": "ingress"}, "swarm_network:"),
    "network name with a space": ({"swarm_network": "my net"}, "swarm_network:"),
    "a label in the toolkit's namespace": (
        {"swarm_node_labels": {"fastapi_deploy.edge": "true"}}, "swarm_node_labels:",
    ),
    "labels not a mapping": ({"swarm_node_labels": ["zone=a"]}, "swarm_node_labels"),
    "a peer's address a network": (
        {"firewall_peers": [{"addresses": ["10.0.0.0/24"], "tcp_ports": [5432]}]},
        "firewall_peers:",
    ),
    "a peer's port out of range": (
        {"firewall_peers": [{"addresses": ["10.0.0.2"], "udp_ports": [70000]}]}, "firewall_peers:",
    ),
    "a peer without addresses": ({"firewall_peers": [{"tcp_ports": [5432]}]}, "addresses"),
    "an app built from source": (
        {"app_image": "", "app_source_dir": str(REPO_DIR / "app")},
        "app_image: on a Docker Swarm each app runs an image from a registry",
    ),
    "Traefik at the edge": (
        {"proxy_engine": "traefik"}, "proxy_engine: on a Docker Swarm (proxy_network_swarm)",
    ),
    "scheduled jobs": (
        {"app_jobs": [{"name": "nightly", "command": ["true"], "schedule": "daily"}]},
        "app_jobs: scheduled jobs are not supported on a Docker Swarm",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("variables", "said"), BAD_VARIABLES.values(), ids=BAD_VARIABLES.keys())
def test_bad_swarm_variables_stop_the_validation_naming_the_variable(
    tmp_path: Path, variables: dict[str, Any], said: str
) -> None:
    hosts = inventory(tmp_path, GOOD, LOCAL, **variables)
    result = ansible("ansible-playbook", "-i", str(hosts), "playbooks/validate.yml")
    assert result.returncode != 0
    assert said in result.stdout


def test_a_run_limited_away_from_the_first_manager_is_refused(tmp_path: Path) -> None:
    hosts = inventory(tmp_path, GOOD, LOCAL)
    result = ansible(
        "ansible-playbook", "-i", str(hosts), "--limit", "w1", "playbooks/validate.yml"
    )
    assert result.returncode != 0
    assert "swarm_managers: the first manager, m1, is not in this run" in result.stdout


DAY2_PLAYBOOKS = ["rollback.yml", "logs.yml", "status.yml", "run.yml"]


def play_hosts(output: str) -> list[list[str]]:
    """`ansible-playbook --list-hosts`' plays, in order: the hosts of each."""
    plays: list[list[str]] = []
    for line in output.splitlines():
        if re.match(r"\s*play #\d+ ", line):
            plays.append([])
        elif plays and re.match(r" {6}\S", line):
            plays[-1].append(line.strip())
    return plays


@pytest.mark.parametrize("playbook", DAY2_PLAYBOOKS)
def test_a_day2_playbook_acts_on_a_single_server_and_the_swarms_first_manager_apart(
    tmp_path: Path, playbook: str
) -> None:
    groups = {**GOOD, "single_servers": ["web"]}
    hosts = inventory(tmp_path, groups, UNREACHABLE)
    result = ansible("ansible-playbook", "-i", str(hosts), "--list-hosts", f"playbooks/{playbook}")
    assert result.returncode == 0, result.stdout + result.stderr
    plays = play_hosts(result.stdout)
    # The validation's two plays, the single servers', then the swarm's.
    assert plays[2:] == [["web"], ["m1"]], result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize("playbook", DAY2_PLAYBOOKS)
def test_a_day2_playbook_without_a_swarm_acts_on_the_servers_alone_without_warning(
    tmp_path: Path, playbook: str
) -> None:
    hosts = inventory(tmp_path, {"single_servers": ["web"]}, UNREACHABLE)
    result = ansible("ansible-playbook", "-i", str(hosts), "--list-hosts", f"playbooks/{playbook}")
    assert result.returncode == 0, result.stdout + result.stderr
    plays = play_hosts(result.stdout)
    assert plays[2:] == [["web"], []], result.stdout
    assert "WARNING" not in result.stderr
