"""The swarm as the inventory describes it: its nodes and members, the groups' rules, each node's
address and firewall peers, its labels, and the nodes the inventory dropped."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import swarm

SWARM = {
    "fastapi_servers": ["m1", "w1", "w2", "db"],
    "swarm_managers": ["m1"],
    "swarm_workers": ["w1", "w2"],
    "swarm_edge": ["m1"],
    "swarm_database": ["db"],
}
FACTS = {
    name: {"ansible_facts": {"default_ipv4": {"address": f"10.0.0.{number}"}}}
    for number, name in enumerate(["m1", "w1", "w2", "db"], start=1)
}


def node(node_id: str, inventory_hostname: str | None, role: str = "worker") -> dict[str, Any]:
    labels = {swarm.INVENTORY_LABEL: inventory_hostname} if inventory_hostname else {}
    return {
        "ID": node_id,
        "Description": {"Hostname": f"host-{node_id}"},
        "Spec": {"Role": role, "Labels": labels},
    }


def test_the_nodes_are_the_managers_then_the_workers() -> None:
    assert swarm.swarm_nodes(SWARM) == ["m1", "w1", "w2"]


def test_the_members_are_the_nodes_then_the_database_server() -> None:
    assert swarm.swarm_members(SWARM) == ["m1", "w1", "w2", "db"]


def test_a_database_server_listed_as_a_node_too_is_a_member_once() -> None:
    assert swarm.swarm_members({**SWARM, "swarm_workers": ["w1", "db"]}) == ["m1", "w1", "db"]


def test_an_inventory_without_the_groups_has_no_swarm_and_no_problem() -> None:
    single = {"all": ["web"], "fastapi_servers": ["web"], "ungrouped": []}
    assert (swarm.swarm_nodes(single), swarm.swarm_in_use(single)) == ([], False)
    assert swarm.swarm_members(single) == []
    assert swarm.swarm_problems(single) == []


def test_a_good_swarm_has_no_problem() -> None:
    assert swarm.swarm_problems(SWARM) == []


@pytest.mark.parametrize("managers", [["m1"], ["m1", "m2", "m3"], ["m1", "m2", "m3", "m4", "m5"]])
def test_an_odd_number_of_managers_is_accepted(managers: list[str]) -> None:
    assert swarm.swarm_problems({**SWARM, "swarm_managers": managers, "swarm_edge": []}) == []


@pytest.mark.parametrize(
    ("change", "group"),
    [
        ({"swarm_managers": [], "swarm_edge": []}, "swarm_managers"),
        ({"swarm_managers": ["m1", "m2"]}, "swarm_managers"),
        ({"swarm_managers": ["m1", "m2", "m3", "m4"]}, "swarm_managers"),
        ({"swarm_workers": ["w1", "m1"]}, "swarm_workers"),
        ({"swarm_database": ["w2"]}, "swarm_database"),
        ({"swarm_database": ["m1"], "swarm_edge": []}, "swarm_database"),
        ({"swarm_edge": ["db"]}, "swarm_edge"),
    ],
    ids=["no manager", "two managers", "four managers", "manager and worker",
         "database a worker", "database a manager", "edge not a node"],
)  # fmt: skip
def test_each_broken_rule_names_its_group(change: dict[str, list[str]], group: str) -> None:
    problems = swarm.swarm_problems({**SWARM, **change})
    assert len(problems) == 1
    assert problems[0].startswith(f"{group}: ")


def test_a_swarm_without_a_manager_is_refused_even_without_workers() -> None:
    assert swarm.swarm_problems({"swarm_edge": ["m1"]})[0].startswith("swarm_managers: ")


def test_the_exclusion_names_the_groups_that_have_hosts() -> None:
    assert swarm.swarm_exclusion(SWARM) == ":!swarm_managers:!swarm_workers:!swarm_database"
    assert swarm.swarm_exclusion({**SWARM, "swarm_workers": []}) == (
        ":!swarm_managers:!swarm_database"
    )
    assert swarm.swarm_exclusion({**SWARM, "swarm_database": []}) == (
        ":!swarm_managers:!swarm_workers"
    )
    assert swarm.swarm_exclusion({"fastapi_servers": ["web"]}) == ""


def test_a_node_advertises_its_own_address_before_its_default_routes() -> None:
    hostvars = {**FACTS, "w1": {**FACTS["w1"], "swarm_advertise_address": "192.168.5.2"}}
    assert swarm.swarm_address(hostvars, "w1") == "192.168.5.2"
    assert swarm.swarm_address(hostvars, "w2") == "10.0.0.3"


def test_a_node_without_facts_or_address_is_an_error_naming_it() -> None:
    with pytest.raises(AnsibleFilterError, match="w2"):
        swarm.swarm_address({"w2": {}}, "w2")


def test_a_node_peers_with_the_other_members_on_swarms_ports() -> None:
    assert swarm.swarm_firewall_peers(SWARM, FACTS, "w1") == [
        {
            "addresses": ["10.0.0.1", "10.0.0.3", "10.0.0.4"],
            "tcp_ports": [2377, 7946],
            "udp_ports": [7946, 4789],
        }
    ]


def test_the_database_server_peers_with_every_node() -> None:
    peers = swarm.swarm_firewall_peers(SWARM, FACTS, "db")
    assert [peer["addresses"] for peer in peers] == [["10.0.0.1", "10.0.0.2", "10.0.0.3"]]


def test_a_host_outside_the_swarm_has_no_swarm_peer() -> None:
    assert swarm.swarm_firewall_peers(SWARM, FACTS, "web") == []


def test_a_lone_node_has_no_peer() -> None:
    assert swarm.swarm_firewall_peers({"swarm_managers": ["m1"]}, FACTS, "m1") == []


def test_an_edge_node_is_labelled_edge_beside_its_own_labels() -> None:
    assert swarm.swarm_node_labels("m1", ["m1"], {"zone": "a"}) == {
        "zone": "a",
        swarm.INVENTORY_LABEL: "m1",
        swarm.EDGE_LABEL: "true",
    }


def test_a_node_off_the_edge_has_no_edge_label() -> None:
    assert swarm.swarm_node_labels("w1", ["m1"], {}) == {swarm.INVENTORY_LABEL: "w1"}


def test_the_database_server_is_labelled_database() -> None:
    assert swarm.swarm_node_labels("db", ["m1"], {}, ["db"]) == {
        swarm.INVENTORY_LABEL: "db",
        swarm.DATABASE_LABEL: "true",
    }


def test_a_node_has_no_database_label() -> None:
    assert swarm.DATABASE_LABEL not in swarm.swarm_node_labels("w1", [], {}, ["db"])


def test_label_values_are_strings() -> None:
    assert swarm.swarm_node_labels("w1", [], {"rack": 3})["rack"] == "3"


def test_the_nodes_the_inventory_dropped_are_found_by_their_label() -> None:
    nodes = [
        node("a", "m1", "manager"),
        node("b", "w1"),
        node("c", "old"),
        node("d", "gone", "manager"),
    ]
    dropped = swarm.swarm_dropped_nodes(nodes, ["m1", "w1", "w2"])
    assert [(entry["id"], entry["inventory_hostname"], entry["manager"]) for entry in dropped] == [
        ("c", "old", False),
        ("d", "gone", True),
    ]


def test_a_node_joined_by_hand_is_not_dropped() -> None:
    assert swarm.swarm_dropped_nodes([node("x", None)], ["m1"]) == []


def test_a_node_is_a_member_while_the_manager_lists_its_id() -> None:
    nodes = [node("a", "m1"), node("b", "w1")]
    assert swarm.swarm_is_member("b", nodes)
    assert not swarm.swarm_is_member("z", nodes)
    assert not swarm.swarm_is_member("", nodes)
