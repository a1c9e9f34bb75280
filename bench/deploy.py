"""Deploy: a code-only change to a new release live, idle and under load (per request)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench.common import OUT_DIR, Json, Settings, live_container, playbook, releases, server_docker
from bench.load import load
from harness.common import DEPLOY_PLAYBOOK, app_version

BUILD_TASK = "fastapi_deploy.toolkit.app : Build the app image"
PULL_TASK = "fastapi_deploy.toolkit.app : Pull the image"


def image_layers(container: str) -> tuple[str, list[str]]:
    image = server_docker("inspect", "--format", "{{.Config.Image}}", container)
    layers = server_docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)
    return image, json.loads(layers)


def source_vars(source: Path) -> Json:
    return {"app_source_dir": str(source)}


def deploy_version(name: str, extra_vars: Json, secret_vars: Json | None = None) -> Json:
    """deploy.yml with a code-only change (a source directory to build on the server, or an
    image to pull: extra_vars); what it took, and how much of the image is new."""
    _, layers_before = image_layers(live_container())
    started = time.time()
    deployed = playbook(DEPLOY_PLAYBOOK, name, extra_vars, secret_vars)
    finished = time.time()
    state = releases()
    image, layers_after = image_layers(str(state["live"]))
    return {
        "release": str(state["release"]),
        "image": image,
        "wall_s": deployed.seconds,
        "started_at": started,
        "finished_at": finished,
        "build_s": deployed.tasks.get(BUILD_TASK),
        "pull_s": deployed.tasks.get(PULL_TASK),
        "layers_reused": sum(1 for layer in layers_after if layer in layers_before),
        "layers_new": sum(1 for layer in layers_after if layer not in layers_before),
        **deployed.summary(),
    }


def deploy_under_load(
    index: int, extra_vars: Json, settings: Settings, name: str = "deploy"
) -> Json:
    with load(
        f"{name}-{index}", settings, limit=600, timeline=True, clients=settings.switch_clients
    ) as result:
        time.sleep(settings.settle_s)
        deployed = deploy_version(f"{name}-{index + 1}", extra_vars)
        time.sleep(settings.settle_s)
    origin = result["started_at"]
    first_seen = result["releases"].get(deployed["release"], {}).get("first")
    timeline_file = OUT_DIR / f"{name}-{index + 1}-timeline.json"
    timeline_file.write_text(json.dumps(result.pop("timeline", [])))
    return {
        **deployed,
        "index": index,
        "started": round(deployed["started_at"] - origin, 3),
        "finished": round(deployed["finished_at"] - origin, 3),
        "new_release_first_answer_s": (
            round(origin + first_seen - deployed["started_at"], 2)
            if first_seen is not None
            else None
        ),
        "total": result["total"],
        "failed": result["failed"],
        "retried": result["retried_stale_connections"],
        "by_kind": result.get("by_kind", {}),
        "p50_ms": result["latency_p50_ms"],
        "p99_ms": result["latency_p99_ms"],
        "max_ms": result["latency_max_ms"],
        "failures": result["failures"],
        "releases": result["releases"],
        "timeline_file": str(timeline_file),
    }


def measure_deploy(settings: Settings) -> Json:
    """One code-only deploy on an idle sandbox, then settings.deploys under load."""
    with tempfile.TemporaryDirectory(prefix="bench-app-") as directory:
        stamp = time.strftime("%Y%m%d%H%M%S")
        idle_source = app_version(Path(directory), f"v{stamp}-idle")
        idle = deploy_version("deploy-idle", source_vars(idle_source))
        samples = [
            deploy_under_load(
                index, source_vars(app_version(Path(directory), f"v{stamp}-{index}")), settings
            )
            for index in range(settings.deploys)
        ]
    return {"idle": idle, "samples": samples}


def measure_switches(settings: Settings, engine: str) -> Json:
    """settings.deploys code-only deploys under load with `engine` serving: the switch on an
    engine other than the default one (its deploy section measures the rest)."""
    with tempfile.TemporaryDirectory(prefix="bench-app-") as directory:
        stamp = time.strftime("%Y%m%d%H%M%S")
        samples = [
            deploy_under_load(
                index,
                # The sandbox's inventory names the default engine.
                {
                    **source_vars(app_version(Path(directory), f"v{stamp}-{engine}-{index}")),
                    "proxy_engine": engine,
                },
                settings,
                name=f"deploy-{engine}",
            )
            for index in range(settings.deploys)
        ]
    return {"samples": samples}
