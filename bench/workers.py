"""Workers: throughput for 1, 2, 4 and vCPUs uvicorn workers (playbooks/deploy.yml)."""

from __future__ import annotations

from bench.common import (
    Json,
    Settings,
    live_container,
    on_server,
    playbook,
    server_docker,
    site_url,
)
from bench.load import direct_url, median_run, wrk
from harness.common import DEPLOY_PLAYBOOK


def main_pid(container: str) -> int:
    return int(server_docker("inspect", "--format", "{{.State.Pid}}", container))


def worker_count(container: str) -> int:
    """Processes serving requests: uvicorn's workers (children of the main process started by
    multiprocessing), or the main process itself when it runs a single worker."""
    master = main_pid(container)
    rows = server_docker("top", container, "-o", "pid,ppid,args").splitlines()[1:]
    parsed = (row.split(None, 2) for row in rows)
    spawned = sum(1 for _, ppid, args in parsed if int(ppid) == master and "spawn" in args)
    return spawned or 1


def server_vcpus() -> int:
    return int(on_server("nproc").stdout)


def measure_worker_count(count: int, settings: Settings) -> Json:
    deployed = playbook(DEPLOY_PLAYBOOK, f"workers-{count}", {"app_workers": count})
    live = live_container()
    direct = [wrk(direct_url(live), settings, inner=True) for _ in range(settings.rounds)]
    proxy = [wrk(site_url(), settings, inner=True) for _ in range(settings.rounds)]
    return {
        "running": worker_count(live),
        "deploy_s": deployed.seconds,
        "direct": median_run(direct),
        "proxy": median_run(proxy),
    }


def measure_workers(settings: Settings) -> Json:
    vcpus = server_vcpus()
    inventory_workers = worker_count(live_container())
    counts: Json = {}
    try:
        for count in sorted({1, 2, 4, vcpus}):
            counts[str(count)] = measure_worker_count(count, settings)
    finally:
        playbook(DEPLOY_PLAYBOOK, "workers-restore")
    best = max(counts, key=lambda count: counts[count]["proxy"]["requests_per_second"])
    return {
        "vcpus": vcpus,
        "role_default": vcpus,
        "inventory_workers": inventory_workers,
        "counts": counts,
        "best_through_proxy": best,
    }
