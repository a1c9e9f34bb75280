"""The swarm scenario's four servers are one Docker Swarm (playbooks/swarm.yml): one manager, two
workers and the database's server (a worker that runs no app), the edge node labelled, an attachable
overlay network between them and no routing mesh; Swarm's ports open between the members alone;
a node dropped from the inventory leaves the swarm on the next run, and comes back when listed
again. The swarm scenario runs this module
alone (conftest.py, SWARM_MODULES)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from conftest import scenario_name

from harness.common import SITE_PLAYBOOK, play_recap, role_defaults, run_playbook

testinfra_hosts = ["ansible://swarm_managers"]

SWARM_PLAYBOOK = "playbooks/swarm.yml"
MANAGER = f"fd-{scenario_name()}-server"
WORKERS = [f"fd-{scenario_name()}-worker-1", f"fd-{scenario_name()}-worker-2"]
NODES = [MANAGER, *WORKERS]
# The database's server: a member of the swarm that runs no app (test_swarm_database.py).
DATABASE = f"fd-{scenario_name()}-db"
MEMBERS = [*NODES, DATABASE]
DROPPED = WORKERS[1]
# The apps' overlay network: the edge proxy's (playbooks/swarm.yml passes its name on).
NETWORK = role_defaults("proxy")["proxy_network_name"]
# Swarm's TCP ports (cluster management, gossip); its UDP ones (gossip, VXLAN) are shown open
# between the nodes by the overlay's traffic (test_the_overlay_carries_traffic_between_nodes).
SWARM_TCP_PORTS = [2377, 7946]
# Ports the outside client probes on every node: SSH, the proxy's, and ports that must stay shut
# (Swarm's, Docker's API, the app's, PostgreSQL's).
PROBED_PORTS = [22, 80, 443, 2375, 2376, 2377, 5432, 7946, 8000]
# The python image the nodes can load (the scenario mounts `make images`' archives).
PROBE_IMAGE = "fastapi-deploy/python:3.11-slim"
PROBE_ARCHIVE = "/var/cache/fastapi-deploy/images/python.tar"


def node(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"docker://{name}")


def address(name: str) -> str:
    return node(name).check_output("hostname -i").split()[0]


def nodes_of_swarm(manager: testinfra.host.Host) -> dict[str, dict[str, Any]]:
    """Every node the manager knows, by hostname: `docker node inspect` of each."""
    ids = manager.check_output("docker node ls -q").split()
    inspected = json.loads(manager.check_output(f"docker node inspect {' '.join(ids)}"))
    return {entry["Description"]["Hostname"]: entry for entry in inspected}


def tcp_probes(source: testinfra.host.Host, target: str, ports: list[int]) -> dict[int, str]:
    """What a TCP connection from the source to each of the target's ports meets (all at once):
    `open` (accepted), `refused` (a reset: nothing listens, or the firewall's reset) or `silent`
    (dropped: no answer within 3 s)."""
    program = (
        "import concurrent.futures, json, socket\n"
        "def probe(port):\n"
        "    try:\n"
        f"        socket.create_connection(('{target}', port), timeout=3).close()\n"
        "        return 'open'\n"
        "    except ConnectionRefusedError:\n"
        "        return 'refused'\n"
        "    except OSError:\n"
        "        return 'silent'\n"
        f"ports = {list(ports)}\n"
        "with concurrent.futures.ThreadPoolExecutor(len(ports)) as pool:\n"
        "    print(json.dumps(dict(zip(ports, pool.map(probe, ports)))))\n"
    )
    found = json.loads(source.check_output(f"python3 -c {shlex.quote(program)}"))
    return {int(port): outcome for port, outcome in found.items()}


def test_the_swarm_has_one_manager_two_workers_and_the_database_server_all_ready(
    host: testinfra.host.Host,
) -> None:
    found = {
        name: (entry["Spec"]["Role"], entry["Status"]["State"], entry["Spec"]["Availability"])
        for name, entry in nodes_of_swarm(host).items()
    }
    assert found == {
        MANAGER: ("manager", "ready", "active"),
        WORKERS[0]: ("worker", "ready", "active"),
        WORKERS[1]: ("worker", "ready", "active"),
        DATABASE: ("worker", "ready", "active"),
    }


def test_the_edge_node_alone_carries_the_edge_label(host: testinfra.host.Host) -> None:
    edge = {
        name: entry["Spec"]["Labels"].get("fastapi_deploy.edge")
        for name, entry in nodes_of_swarm(host).items()
    }
    assert edge == {MANAGER: "true", WORKERS[0]: None, WORKERS[1]: None, DATABASE: None}


def test_the_database_server_alone_carries_the_database_label(host: testinfra.host.Host) -> None:
    database = {
        name: entry["Spec"]["Labels"].get("fastapi_deploy.database")
        for name, entry in nodes_of_swarm(host).items()
    }
    assert database == {MANAGER: None, WORKERS[0]: None, WORKERS[1]: None, DATABASE: "true"}


def test_a_node_carries_the_labels_its_inventory_gives_it(host: testinfra.host.Host) -> None:
    labels = nodes_of_swarm(host)[WORKERS[0]]["Spec"]["Labels"]
    assert labels == {"zone": "b", "fastapi_deploy.inventory_hostname": WORKERS[0]}


def test_the_apps_network_is_an_attachable_overlay_of_the_swarm(host: testinfra.host.Host) -> None:
    network = json.loads(host.check_output(f"docker network inspect {NETWORK}"))[0]
    found = (network["Driver"], network["Scope"], network["Attachable"])
    assert found == ("overlay", "swarm", True)
    # Not encrypted: no IPsec between the nodes here (the notes on this machine's kernel).
    assert "encrypted" not in (network.get("Options") or {})


def test_the_routing_mesh_network_is_gone(host: testinfra.host.Host) -> None:
    names = host.check_output("docker network ls --format '{{.Name}}'").split()
    assert "ingress" not in names
    assert NETWORK in names


@pytest.fixture(scope="module")
def overlay_peers() -> Iterator[tuple[testinfra.host.Host, testinfra.host.Host]]:
    """A web server on the overlay network on one worker, and the other worker, both with the
    probe image loaded."""
    serving, asking = node(WORKERS[0]), node(WORKERS[1])
    for worker in (serving, asking):
        worker.check_output(f"docker load -i {PROBE_ARCHIVE}")
    serving.check_output(
        f"docker run -d --rm --name swarm-probe --network {NETWORK} {PROBE_IMAGE}"
        " python -m http.server 8000"
    )
    yield serving, asking
    serving.run("docker rm -f swarm-probe")


def test_the_overlay_carries_traffic_between_nodes(
    overlay_peers: tuple[testinfra.host.Host, testinfra.host.Host],
) -> None:
    """A container on one worker reaches, by name, a container on the other over the overlay:
    VXLAN (4789/udp) and gossip (7946) pass between the nodes, through their firewalls."""
    _, asking = overlay_peers
    fetch = (
        "import time, urllib.request\n"
        "for attempt in range(20):\n"
        "    try:\n"
        "        urllib.request.urlopen('http://swarm-probe:8000/', timeout=3); break\n"
        "    except OSError:\n"
        "        time.sleep(1)\n"
        "else:\n"
        "    raise SystemExit(1)\n"
    )
    result = asking.run(
        f"docker run --rm --network {NETWORK} {PROBE_IMAGE} python -c {shlex.quote(fetch)}"
    )
    assert result.rc == 0, result.stderr


def test_swarm_ports_answer_from_the_other_members() -> None:
    manager, worker = address(MANAGER), address(WORKERS[0])
    others = [*WORKERS, DATABASE]
    assert {name: tcp_probes(node(name), manager, SWARM_TCP_PORTS) for name in others} == {
        name: dict.fromkeys(SWARM_TCP_PORTS, "open") for name in others
    }
    # A worker's gossip port, from the manager.
    assert tcp_probes(node(MANAGER), worker, [7946]) == {7946: "open"}


def test_swarm_ports_get_no_answer_from_outside(client: testinfra.host.Host) -> None:
    assert {name: tcp_probes(client, address(name), SWARM_TCP_PORTS) for name in MEMBERS} == {
        name: dict.fromkeys(SWARM_TCP_PORTS, "silent") for name in MEMBERS
    }


def test_from_outside_only_ssh_and_the_edges_http_and_https_are_open(
    client: testinfra.host.Host,
) -> None:
    """From the client: SSH accepts on every member, 80 and 443 on the edge node (its proxy);
    on the other members 80 and 443 pass the firewall and are reset (no proxy there: the
    firewall's reset for a published port that nothing serves); every other port probed is
    dropped without an answer (PostgreSQL's on the database's server too)."""
    closed = dict.fromkeys(PROBED_PORTS, "silent") | {22: "open"}
    expected = {
        name: closed | dict.fromkeys([80, 443], "open" if name == MANAGER else "refused")
        for name in MEMBERS
    }
    assert {name: tcp_probes(client, address(name), PROBED_PORTS) for name in MEMBERS} == expected


def test_a_dry_run_of_the_site_changes_nothing_on_any_member() -> None:
    result = run_playbook(
        SITE_PLAYBOOK, "--check", inventory=os.environ["MOLECULE_INVENTORY_FILE"], timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    recap = play_recap(result.stdout)
    assert {name: recap[name]["changed"] for name in MEMBERS} == dict.fromkeys(MEMBERS, 0)


# A node dropped from the inventory, then listed again: last, the swarm whole again after them.


def inventory_without(tmp_path: Path, dropped: str) -> Path:
    """Molecule's inventory of this scenario without the dropped host, beside the same
    group_vars and host_vars."""
    source = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    inventory = yaml.safe_load(source.read_text())

    def drop(group: dict[str, Any]) -> None:
        (group.get("hosts") or {}).pop(dropped, None)
        for child in (group.get("children") or {}).values():
            drop(child or {})

    for group in inventory.values():
        drop(group or {})
    for name in ("group_vars", "host_vars"):
        (tmp_path / name).symlink_to((source.parent / name).resolve())
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def run_swarm_playbook(inventory: Path | str) -> subprocess.CompletedProcess[str]:
    result = run_playbook(SWARM_PLAYBOOK, inventory=inventory, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def dropped_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    run_swarm_playbook(inventory_without(tmp_path_factory.mktemp("inventory"), DROPPED))


@pytest.mark.runs_last
def test_a_node_dropped_from_the_inventory_leaves_the_swarm_on_the_next_run(
    host: testinfra.host.Host, dropped_run: None
) -> None:
    assert sorted(nodes_of_swarm(host)) == sorted([*NODES[:2], DATABASE])


@pytest.mark.runs_last
def test_a_dropped_node_listed_again_rejoins_the_swarm(
    host: testinfra.host.Host, dropped_run: None
) -> None:
    run_swarm_playbook(os.environ["MOLECULE_INVENTORY_FILE"])
    rejoined = nodes_of_swarm(host)[DROPPED]
    assert (rejoined["Spec"]["Role"], rejoined["Status"]["State"]) == ("worker", "ready")
