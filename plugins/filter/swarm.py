"""A Docker Swarm of several servers, as the inventory describes it: which hosts are its nodes and
in which role, the rules the groups must follow, each node's address, the firewall's peers of a
node, and which nodes the swarm holds that the inventory no longer lists.

The groups: `swarm_managers` (the first one creates the swarm), `swarm_workers`, `swarm_edge`
(the nodes that run the TLS proxy: swarm nodes) and `swarm_database` (the database's server: a
member of the swarm, a worker that runs no app, in neither of the first two groups). The
swarm's nodes run the apps; its members are the nodes and the database's server. A group left
out of the inventory is empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

MANAGERS = "swarm_managers"
WORKERS = "swarm_workers"
EDGE = "swarm_edge"
DATABASE = "swarm_database"
GROUPS = (MANAGERS, WORKERS, EDGE, DATABASE)
# The label each node carries with its inventory name: how the manager tells the nodes the
# inventory still lists from those it dropped (a hostname or an address may change or repeat).
INVENTORY_LABEL = "fastapi_deploy.inventory_hostname"
EDGE_LABEL = "fastapi_deploy.edge"
DATABASE_LABEL = "fastapi_deploy.database"
# Swarm's own ports (Docker's "Getting started with swarm mode"): cluster management, the nodes'
# gossip, and the overlay networks' VXLAN data.
TCP_PORTS = (2377, 7946)
UDP_PORTS = (7946, 4789)


def _group(groups: Mapping[str, Any], name: str) -> list[str]:
    return list(groups.get(name) or [])


def swarm_nodes(groups: Mapping[str, Any]) -> list[str]:
    """The swarm's nodes in the inventory: the managers, then the workers."""
    nodes = _group(groups, MANAGERS)
    return nodes + [host for host in _group(groups, WORKERS) if host not in nodes]


def swarm_members(groups: Mapping[str, Any]) -> list[str]:
    """Every member of the swarm: its nodes (which run the apps), then the database's servers
    (which join as workers that run no app, for the database's overlay network alone)."""
    members = swarm_nodes(groups)
    return members + [host for host in _group(groups, DATABASE) if host not in members]


def swarm_in_use(groups: Mapping[str, Any]) -> bool:
    """Whether the inventory describes a swarm at all (any of its groups has a host)."""
    return any(_group(groups, name) for name in GROUPS)


def swarm_exclusion(groups: Mapping[str, Any]) -> str:
    """The end of a host pattern that leaves the swarm's members out (the single-server proxy and
    app plays on an inventory that also holds a swarm):
    `:!swarm_managers:!swarm_workers:!swarm_database`, each group only when it has a host (a
    pattern naming a group without one warns on every run); without a swarm, an empty string."""
    return "".join(f":!{name}" for name in (MANAGERS, WORKERS, DATABASE) if _group(groups, name))


def swarm_problems(groups: Mapping[str, Any]) -> list[str]:
    """What is wrong with the swarm's groups, each problem naming its group; none without a
    swarm."""
    if not swarm_in_use(groups):
        return []
    managers, workers = _group(groups, MANAGERS), _group(groups, WORKERS)
    nodes = swarm_nodes(groups)
    problems = []
    if not managers:
        problems.append(
            f"{MANAGERS}: no manager; put one (or three, or five) of the swarm's servers in it"
        )
    elif len(managers) > 1 and len(managers) % 2 == 0:
        problems.append(
            f"{MANAGERS}: {len(managers)} managers; use an odd number (1, 3, 5): an even number"
            " tolerates no more failures than one manager fewer, and splits the vote"
        )
    both = [host for host in managers if host in workers]
    if both:
        problems.append(
            f"{WORKERS}: {', '.join(both)} also in {MANAGERS}; a node is a manager or a worker"
        )
    database = [host for host in _group(groups, DATABASE) if host in nodes]
    if database:
        problems.append(
            f"{DATABASE}: {', '.join(database)} also in {MANAGERS} or {WORKERS}; the database's"
            " server joins the swarm as a worker that runs no app: list it in"
            f" {DATABASE} alone"
        )
    outside = [host for host in _group(groups, EDGE) if host not in nodes]
    if outside:
        problems.append(
            f"{EDGE}: {', '.join(outside)} not a swarm node; put it in {MANAGERS} or {WORKERS}"
        )
    return problems


def swarm_address(hostvars: Mapping[str, Any], host: str) -> str:
    """The address a node advertises to the others: its swarm_advertise_address, by default the
    address of its default route (the swarm role's default, read where the role's defaults are
    not visible: another host's variables)."""
    variables = hostvars[host]
    address = variables.get("swarm_advertise_address")
    if not address:
        address = ((variables.get("ansible_facts") or {}).get("default_ipv4") or {}).get("address")
    if not address:
        raise AnsibleFilterError(
            f"swarm: no address known for {host}: its facts were not gathered in this run (a run"
            " limited to some servers) and swarm_advertise_address is not set for it"
        )
    return str(address)


def swarm_firewall_peers(
    groups: Mapping[str, Any], hostvars: Mapping[str, Any], host: str
) -> list[dict[str, Any]]:
    """The firewall's peers of a host (the firewall role's firewall_peers): for a member of the
    swarm (a node or the database's server), the other members' addresses with Swarm's ports;
    for any other host, none."""
    members = swarm_members(groups)
    if host not in members:
        return []
    others = [swarm_address(hostvars, member) for member in members if member != host]
    if not others:
        return []
    return [{"addresses": others, "tcp_ports": list(TCP_PORTS), "udp_ports": list(UDP_PORTS)}]


def swarm_node_labels(
    host: str, edge: Iterable[str], labels: Mapping[str, Any], database: Iterable[str] = ()
) -> dict[str, str]:
    """Every label of a member: the user's, its inventory name, the edge label on edge nodes and
    the database label on the database's servers."""
    result = {str(key): str(value) for key, value in (labels or {}).items()}
    result[INVENTORY_LABEL] = host
    if host in list(edge or []):
        result[EDGE_LABEL] = "true"
    if host in list(database or []):
        result[DATABASE_LABEL] = "true"
    return result


def swarm_dropped_nodes(
    nodes: Iterable[Mapping[str, Any]], inventory: Iterable[str]
) -> list[dict[str, Any]]:
    """The nodes the swarm holds that the inventory no longer lists (docker_swarm_info's nodes):
    each with its ID, hostname and whether it is a manager. A node without the inventory label
    (one joined by hand) is not the inventory's to remove."""
    listed = set(inventory)
    dropped = []
    for node in nodes:
        labels = (node.get("Spec") or {}).get("Labels") or {}
        name = labels.get(INVENTORY_LABEL)
        if name and name not in listed:
            dropped.append(
                {
                    "id": node["ID"],
                    "hostname": (node.get("Description") or {}).get("Hostname", ""),
                    "inventory_hostname": name,
                    "manager": (node.get("Spec") or {}).get("Role") == "manager",
                }
            )
    return dropped


def swarm_is_member(node_id: str, nodes: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the swarm (the manager's list of nodes) still holds a node of this ID."""
    return bool(node_id) and any(node.get("ID") == node_id for node in nodes)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "swarm_nodes": swarm_nodes,
            "swarm_members": swarm_members,
            "swarm_in_use": swarm_in_use,
            "swarm_problems": swarm_problems,
            "swarm_exclusion": swarm_exclusion,
            "swarm_address": swarm_address,
            "swarm_firewall_peers": swarm_firewall_peers,
            "swarm_node_labels": swarm_node_labels,
            "swarm_dropped_nodes": swarm_dropped_nodes,
            "swarm_is_member": swarm_is_member,
        }
