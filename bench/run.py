"""Benchmarks the toolkit in the local sandbox and prints its figures against their targets.

One run, on one fresh sandbox (harness/sandbox.py), measures (a module of bench/ each):
- provisioning: fresh server -> first verified HTTPS 200 (images prebuilt), and the rerun;
- throughput: wrk with keep-alive, direct to the app and through the proxy over HTTPS, from one
  client container inside the server on the proxy network (same client, same run), and through
  the proxy from a client on the sandbox network (the realistic path); for Caddy and Traefik;
- workers: the same for 1, 2, 4 and vCPUs uvicorn workers (playbooks/deploy.yml);
- crash recovery: kill -9 of uvicorn's main process -> first verified 200 through the proxy;
- deploy: code-only change -> new release live under load (harness/loadgen.py, per request);
- registry: the same change as an image pulled from a registry (app_image), idle and under
  load, with the bytes pulled;
- renewal: failed requests while Caddy reloads, and while it re-issues its certificate;
- image: the app image's size over its base, and its rebuild after a code-only change;
- database: a read endpoint that queries PostgreSQL, direct and through the proxy, and the
  backup and restore playbooks on a database of a stated size;
- offsite: the off-site copies (restic to an S3 store and an SFTP backup host) turned on for
  the section: the role's install, the backup with its copies, and the off-site restore from
  each repository followed by the database's restore, on a database of the stated size;
- jobs: background work (Redis, an arq worker) turned on for the section: enqueue -> done
  latency and jobs per second, idle and during a code-only deploy, jobs lost or done twice;
- alerts: the alerts checker turned on for the section (a webhook to a receiver on the sandbox
  network), run N times as its timer runs it: wall time and peak memory per run, checks per run.
- swarm: rolling deploys under every kind of client on a Docker Swarm of four servers (the
  swarm scenario's, created for the section and destroyed after it; no sandbox needed).

Load comes only from client containers on the sandbox's own networks, bounded in time and
count. Results go to .cache/bench/ (results.json, deploy-latency.png, the playbooks' logs).
The figures are this machine's: on 2 shared cores they are noisy, not a timed test.
`python -m bench --help` lists the options; `python -m bench.report` prints the table again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, replace

from bench import (
    alerts,
    crash,
    database,
    deploy,
    image,
    jobs,
    offsite,
    provisioning,
    registry,
    renewal,
    report,
    swarm,
    throughput,
    workers,
)
from bench.common import (
    FULL,
    OUT_DIR,
    SMOKE,
    BenchError,
    Json,
    Settings,
    live_container,
    log,
    playbook,
    sandbox_exists,
)
from bench.common import box as bench_box
from bench.load import start_clients, stop_clients
from harness import sandbox
from harness.common import APP_PLAYBOOK, docker, wait_until

DESCRIPTION = __doc__.splitlines()[0]
SECTIONS = (
    "provisioning", "image", "throughput", "workers", "crash", "deploy", "registry", "renewal",
    "database", "offsite", "jobs", "alerts", "swarm",
)  # fmt: skip
ENGINES = ("caddy", "traefik")
# The sections that need no sandbox: they bring servers of their own.
OWN_SERVERS = {"swarm"}


def switch_engine(engine: str, box: sandbox.Sandbox) -> Json:
    switched = playbook(APP_PLAYBOOK, f"switch-{engine}", {"proxy_engine": engine})
    wait_until(lambda: sandbox.served(box), 120, interval=0.2)
    return switched.summary()


# Orchestration -------------------------------------------------------------------------------


def run_section(results: Json, name: str, measure: Callable[[], Json]) -> Json:
    log(f"--- {name}")
    started = time.monotonic()
    try:
        data = measure()
    except (BenchError, subprocess.SubprocessError, OSError, KeyError, ValueError) as error:
        log(f"{name} failed: {error}")
        data = {"error": f"{type(error).__name__}: {error}"}
    data["section_s"] = round(time.monotonic() - started, 1)
    results["sections"][name] = data
    save(results)
    return data


def save(results: Json) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")


def machine() -> Json:
    others = docker("ps", "--format", "{{.Names}}").split()
    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "other_containers": [name for name in others if not name.startswith("fastapi-sandbox")],
    }


def prepare_sandbox(box: sandbox.Sandbox, args: argparse.Namespace, results: Json) -> None:
    if sandbox_exists():
        if args.reuse:
            results["sections"]["provisioning"] = {"not_measured": "reused a running sandbox"}
            sandbox.save_pebble_root(box)
            return
        log("removing the running sandbox (--recreate)")
        sandbox.down(box)
    data = run_section(results, "provisioning", lambda: provisioning.provision_fresh(box))
    if "error" in data:
        raise SystemExit(f"bench: provisioning failed, nothing else to measure: {data['error']}")


def measure_engine(
    engine: str, box: sandbox.Sandbox, settings: Settings, wanted: set[str], results: Json
) -> None:
    """Every section wanted, with `engine` serving (the proxy-independent ones with Caddy)."""
    plan: list[tuple[str, Callable[[], Json]]] = [
        ("image", image.measure_image),
        ("throughput", lambda: throughput.measure_throughput(engine, settings)),
        ("workers", lambda: workers.measure_workers(settings)),
        ("crash", lambda: crash.measure_crash(engine, box, settings)),
        ("deploy", lambda: deploy.measure_deploy(settings)),
        ("registry", lambda: registry.measure_registry(box, settings)),
        ("renewal", lambda: renewal.measure_renewal(engine, box, settings)),
        ("database", lambda: database.measure_database(live_container(), settings)),
        ("offsite", lambda: offsite.measure_offsite(box, settings)),
        ("jobs", lambda: jobs.measure_jobs(box, settings)),
        ("alerts", lambda: alerts.measure_alerts(box, settings)),
    ]
    if engine != report.DEFAULT_ENGINE:
        # The switch under every kind of client, on this engine too.
        plan.append(("deploy.switches", lambda: deploy.measure_switches(settings, engine)))
    per_engine = {"throughput", "crash", "renewal", "deploy.switches"}
    for name, measure in plan:
        section = name.partition(".")[0]
        if section not in wanted or (engine != report.DEFAULT_ENGINE and name not in per_engine):
            continue
        run_section(results, f"{section}.{engine}" if name in per_engine else name, measure)


def run_bench(box: sandbox.Sandbox, settings: Settings, args: argparse.Namespace) -> Json:
    wanted = set(args.sections.split(","))
    engines = [engine for engine in ENGINES if engine in args.engines.split(",")]
    results: Json = {
        "mode": "smoke" if args.smoke else "full",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": asdict(settings),
        "engines": engines,
        "machine": machine(),
        "sections": {},
    }
    if wanted & OWN_SERVERS == wanted:
        measure_own_servers(settings, wanted, results)
        return results
    if "provisioning" in wanted or not sandbox_exists():
        prepare_sandbox(box, args, results)
    else:
        sandbox.save_pebble_root(box)
    start_clients(box)
    for engine in engines:
        if engine != report.DEFAULT_ENGINE:
            switched = run_section(
                results, f"switch.{engine}", lambda engine=engine: switch_engine(engine, box)
            )
            if "error" in switched:
                continue
        measure_engine(engine, box, settings, wanted, results)
    if engines != [report.DEFAULT_ENGINE]:
        back = report.DEFAULT_ENGINE
        run_section(results, f"switch.{back}", lambda: switch_engine(back, box))
    measure_own_servers(settings, wanted, results)
    return results


def measure_own_servers(settings: Settings, wanted: set[str], results: Json) -> None:
    """The sections that bring their own servers, after the sandbox's (if any) is done."""
    if "swarm" in wanted:
        run_section(results, "swarm", lambda: swarm.measure_swarm(settings))
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results["machine_after"] = machine()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument("--smoke", action="store_true", help="short measurements, same code path")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    parser.add_argument("--engines", default=",".join(ENGINES), help="caddy and/or traefik")
    parser.add_argument("--recreate", action="store_true", help="replace a running sandbox")
    parser.add_argument("--reuse", action="store_true", help="use a running sandbox as it is")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox up at the end")
    parser.add_argument("--deploys", type=int, help="deploys under load (default: the mode's)")
    parser.add_argument(
        "--switch-clients", help="the clients at each switch, as loadgen's --clients kind=count,..."
    )
    args = parser.parse_args()
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    return args


def main() -> int:
    args = parse_arguments()
    settings = SMOKE if args.smoke else FULL
    if args.deploys is not None:
        settings = replace(settings, deploys=args.deploys)
    if args.switch_clients:
        settings = replace(settings, switch_clients=args.switch_clients)
    box = bench_box()
    sandboxed = set(args.sections.split(",")) - OWN_SERVERS
    if sandboxed and sandbox_exists() and not (args.reuse or args.recreate):
        raise SystemExit(
            "bench: a sandbox is up; --recreate replaces it (provisioning is measured on a fresh "
            "one), --reuse measures the rest on it as it is"
        )
    try:
        results = run_bench(box, settings, args)
    finally:
        stop_clients()
        if sandboxed and not args.keep:
            log("removing the sandbox (--keep leaves it up)")
            sandbox.down(box)
    save(results)
    table = report.rows(results)
    print(report.format_table(table))
    if report.plot_deploys(results, OUT_DIR / "deploy-latency.png"):
        log(f"plot: {OUT_DIR / 'deploy-latency.png'}")
    log(f"results: {OUT_DIR / 'results.json'}")
    errors = [name for name, data in results["sections"].items() if "error" in data]
    if errors:
        log(f"sections that could not be measured: {', '.join(errors)}")
    return 1 if errors else 0
