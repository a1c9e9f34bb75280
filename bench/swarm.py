"""Swarm: rolling deploys on a Docker Swarm under every kind of client: each deploy's time, its
tasks and the requests that failed.

The swarm is the swarm scenario's (molecule/swarm: a manager that is also the edge, two workers
and the database's server, with Pebble, the harness registry holding the demo app as
demo/app:1.0 and 1.1, and the outside client), created and converged for the section on a
network of its own and destroyed after it; its converge (site.yml from fresh servers to the
apps' replicas) is reported too. The deploys alternate between the two tags, so each is a new
digest rolled out one replica at a time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import OUT_DIR, BenchError, Json, Settings, log, playbook
from bench.load import load
from bench.registry import REGISTRY_ADDRESS, REPOSITORY
from harness import sandbox
from harness.common import DEPLOY_PLAYBOOK, LOADGEN, REPO_DIR, docker, docker_exists, run

SCENARIO = "swarm"
# The section's own network: the CI's scenarios use 172.28.198 and .199.
NETWORK = "172.28.193"
# Molecule keeps the scenario's state (its inventory among it) here rather than in its cache.
EPHEMERAL_DIR = OUT_DIR / "molecule-swarm"
INVENTORY = EPHEMERAL_DIR / "inventory" / "ansible_inventory.yml"
CLIENT = f"fd-{SCENARIO}-client"
EDGE = f"fd-{SCENARIO}-server"
TAGS = ("1.1", "1.0")


def molecule(action: str) -> float:
    """A Molecule step of the scenario; the seconds it took."""
    started = time.monotonic()
    log(f"molecule {action} -s {SCENARIO} (network {NETWORK}.0/24)")
    where = {"FD_SCENARIO_NET": NETWORK, "MOLECULE_EPHEMERAL_DIRECTORY": str(EPHEMERAL_DIR)}
    run("molecule", action, "-s", SCENARIO, cwd=REPO_DIR, timeout=1800, env={**os.environ, **where})
    return round(time.monotonic() - started, 1)


@contextmanager
def swarm_up() -> Iterator[float]:
    """The scenario created and converged (yields the converge's seconds), destroyed at the end."""
    if docker_exists("container", EDGE):
        raise BenchError(f"{EDGE} exists: the swarm scenario is up (molecule destroy -s swarm)")
    try:
        molecule("create")
        yield molecule("converge")
    finally:
        molecule("destroy")


def prepare_client() -> None:
    """The load generator and Pebble's current root (the edge's certificate's) in the client."""
    docker("cp", str(LOADGEN), f"{CLIENT}:/tmp/loadgen.py")
    docker("cp", str(sandbox.PEBBLE_HTTPS_CA), f"{CLIENT}:/tmp/pebble-https-ca.pem")
    docker(
        "exec", CLIENT, "curl", "-fsS", "--cacert", "/tmp/pebble-https-ca.pem",
        "-o", "/tmp/pebble-root.pem", "https://pebble:15000/roots/0",
    )  # fmt: skip


def rolling_deploy(index: int, settings: Settings, url: str) -> Json:
    tag = TAGS[index % len(TAGS)]
    clients = settings.switch_clients
    with load(
        f"swarm-{index}", settings, limit=600, clients=clients, client=CLIENT, url=url
    ) as result:
        time.sleep(settings.settle_s)
        deployed = playbook(
            DEPLOY_PLAYBOOK, f"swarm-deploy-{index}",
            {"app_image": f"{REGISTRY_ADDRESS}/{REPOSITORY}:{tag}"}, inventory=INVENTORY,
            # The scenario's variables find the checkout's files through it, as under Molecule.
            env={"MOLECULE_PROJECT_DIRECTORY": str(REPO_DIR)},
        )  # fmt: skip
        time.sleep(settings.settle_s)
    return {
        "tag": tag,
        **deployed.summary(),
        "total": result["total"],
        "failed": result["failed"],
        "retried": result["retried_stale_connections"],
        "by_kind": result.get("by_kind", {}),
        "p99_ms": result["latency_p99_ms"],
        "max_ms": result["latency_max_ms"],
        "failures": result["failures"],
    }


def measure_swarm(settings: Settings) -> Json:
    """settings.deploys rolling deploys under load on a fresh swarm."""
    site = sandbox.site()
    url = f"https://{site.domain}{site.path('/health')}"
    with swarm_up() as converge_s:
        prepare_client()
        samples = [rolling_deploy(index, settings, url) for index in range(settings.deploys)]
    return {"converge_s": converge_s, "inventory": str(Path(INVENTORY)), "samples": samples}
