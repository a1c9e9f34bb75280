"""A worker node of the swarm lost under load: Swarm runs its replicas on the nodes still up
within 30 s, and the edge fails at most one request meanwhile (one in flight on the lost
replica; every request after it goes to a replica still up).

Only the swarm scenario runs this module (conftest: `runs_here`), after the apps' module: the
app runs as its service there. The node stopped is a worker that runs a replica (Swarm chooses
where they run), never the edge, whose loss would take the site down rather than test the swarm.
It is started again at the end and back in the swarm before the module ends.
"""

from __future__ import annotations

import subprocess
from typing import Any

import testinfra
from conftest import Site, load_through_proxy, swarm_replicas

from harness.common import wait_until

testinfra_hosts = ["ansible://swarm_edge"]

SERVICE = "app"


def node_ready(host: testinfra.host.Host, node: str) -> bool:
    found = host.run(f"docker node inspect --format '{{{{.Status.State}}}}' {node}")
    return found.rc == 0 and found.stdout.strip() == "ready"


def test_a_worker_node_stopped_its_replicas_run_elsewhere_within_30_s_failing_at_most_one_request(
    host: testinfra.host.Host, inventory_vars: dict[str, Any], site: Site, pebble_root: str
) -> None:
    wanted = int(inventory_vars["app_replicas"])
    edge = host.check_output("hostname")
    worker = next(node for node, _ in swarm_replicas(host, SERVICE) if node != edge)
    with load_through_proxy(site, pebble_root, limit=120) as load:
        subprocess.run(["docker", "stop", worker], check=True, capture_output=True)
        try:
            took = wait_until(
                lambda: len([n for n, _ in swarm_replicas(host, SERVICE) if n != worker]) == wanted,
                timeout=30,
                diagnose=lambda: str(swarm_replicas(host, SERVICE)),
            )
            print(f"{wanted} replicas on the nodes still up {took:.1f} s after {worker} stopped")
        finally:
            subprocess.run(["docker", "start", worker], check=True, capture_output=True)
            # Back in the swarm before anything else deploys on it.
            wait_until(lambda: node_ready(host, worker), timeout=120, interval=2)
    print(f"node lost under load: {load.summary()}")
    assert load.report["failed"] <= 1, f"{load.report['failures']}\n{load.summary()}"
