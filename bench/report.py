"""The bench's results as a table of figures against their targets, and the deploy plot.

Every function here reads the results dictionary that bench/run.py builds (and writes to
results.json), so a table can be printed again from a saved file: `python -m bench.report`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import Spread
from harness.common import CACHE_DIR, TASK_BUDGETS, Json

OUT_DIR = CACHE_DIR / "bench"

# The targets, in one place.
FRESH_TO_HTTPS_S = 120.0
RERUN_S = 20.0
PROXY_DIRECT_RATIO = 0.75
CRASH_TO_200_S = 2.0
REDEPLOY_S = 15.0
# A deploy of a registry image, idle: nothing is built on the server.
REGISTRY_DEPLOY_S = 12.0
IMAGE_ADDED_MB = 60.0
DEFAULT_ENGINE = "caddy"
# Issue 22: Traefik's proxy CPU time per request at most this multiple of Caddy's.
TRAEFIK_CADDY_CPU = 1.2
# The default worker count is right when it is within this share of the best one measured
# (closer than that is noise on a shared machine).
WORKERS_WITHIN = 0.95
# Longest reason for a figure that was not measured, in the table (results.json has it whole).
REASON_WIDTH = 100


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, what was measured, its target, and whether it is met."""

    section: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None

    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: ""}[self.met]


def not_measured(section: str, figure: str, data: Json | None, target: str = "") -> Row:
    reason = "section not run"
    if data is not None:
        reason = data.get("error") or data.get("not_measured") or "no data"
    reason = " ".join(str(reason).split())
    if len(reason) > REASON_WIDTH:
        reason = reason[: REASON_WIDTH - 3] + "..."
    return Row(section, figure, f"not measured: {reason}", target)


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def load_figures(run: Json) -> str:
    """Median requests per second (with min-max and n when the run has them) and latencies."""
    spread = run.get("spread", {}).get("requests_per_second")
    rate = (
        Spread.from_json(spread).text(unit=" req/s")
        if spread
        else f"{run['requests_per_second']:.0f} req/s"
    )
    return f"{rate}, p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms"


def provisioning_rows(data: Json | None) -> list[Row]:
    section = "provisioning"
    if not data or "fresh_s" not in data:
        return [
            not_measured(section, "fresh server -> first verified HTTPS 200", data, "<= 120 s"),
            not_measured(section, "idempotent rerun of site.yml", data, "<= 20 s, 0 changed"),
        ]
    rerun = data["rerun"]
    return [
        Row(
            section,
            "fresh server -> first verified HTTPS 200",
            f"{seconds(data['fresh_s'])} (boot {data['boot_s']:.1f}, site.yml "
            f"{data['site_yml_s']:.1f}, first 200 after it {data['first_200_after_s']:.1f})",
            f"<= {FRESH_TO_HTTPS_S:.0f} s",
            data["fresh_s"] <= FRESH_TO_HTTPS_S,
        ),
        Row(
            section,
            "idempotent rerun of site.yml",
            f"{seconds(rerun['seconds'])}, {rerun['changed']} changed",
            f"<= {RERUN_S:.0f} s, 0 changed",
            rerun["seconds"] <= RERUN_S and rerun["changed"] == 0,
        ),
        tasks_row(section, "tasks of the idempotent rerun", rerun, TASK_BUDGETS["site_rerun"]),
    ]


def tasks_row(section: str, figure: str, run: Json, budget: int) -> Row:
    """The tasks a playbook run took (ok + skipped), against its budget."""
    if "tasks_run" not in run:
        return Row(section, figure, "not measured", f"<= {budget}", None)
    return Row(section, figure, str(run["tasks_run"]), f"<= {budget}", run["tasks_run"] <= budget)


def throughput_rows(engine: str, data: Json | None) -> list[Row]:
    section = f"throughput ({engine})"
    ratio_target = f">= {PROXY_DIRECT_RATIO}" if engine == DEFAULT_ENGINE else "(default only)"
    if not data or "median" not in data:
        return [not_measured(section, "proxy/direct ratio", data, ratio_target)]
    median = data["median"]
    ratio = data["ratio_proxy_direct"]
    return [
        Row(section, "direct to the app (client in the server)", load_figures(median["direct"])),
        Row(section, "through the proxy, HTTPS (same client)", load_figures(median["proxy"])),
        Row(
            section,
            "through the proxy, HTTPS (sandbox network)",
            load_figures(median["proxy_from_sandbox_network"]),
        ),
        cpu_row(section, median["proxy"]),
        Row(
            section,
            "proxy/direct ratio (same client)",
            f"{ratio_text(data, 'ratio_proxy_direct')} (sandbox network: "
            f"{ratio_text(data, 'ratio_sandbox_network_direct')})",
            ratio_target,
            ratio >= PROXY_DIRECT_RATIO if engine == DEFAULT_ENGINE else None,
        ),
    ]


def ratio_text(data: Json, key: str) -> str:
    spread = data.get(f"{key}_spread")
    return Spread.from_json(spread).text(".2f") if spread else f"{data[key]:.2f}"


def engine_rows(sections: Json) -> list[Row]:
    """Traefik's proxy CPU time per request against Caddy's, both measured in this run: the
    comparison that the machine's other load moves least."""
    section = "engines"
    figure = "proxy CPU per request, Traefik / Caddy"
    target = f"<= {TRAEFIK_CADDY_CPU:.1f}"
    cpu = {}
    for engine in ("caddy", "traefik"):
        run = (sections.get(f"throughput.{engine}") or {}).get("median", {}).get("proxy", {})
        spread = run.get("spread", {}).get("cpu_ms_per_request", {}).get("proxy")
        if not spread:
            return [not_measured(section, figure, {"not_measured": "needs both engines"}, target)]
        cpu[engine] = Spread.from_json(spread)
    ratio = cpu["traefik"].median / cpu["caddy"].median if cpu["caddy"].median else 0.0
    return [
        Row(
            section,
            figure,
            f"{ratio:.2f} (Traefik {cpu['traefik'].text('.3f', ' ms')}, Caddy "
            f"{cpu['caddy'].text('.3f', ' ms')})",
            target,
            ratio <= TRAEFIK_CADDY_CPU,
        )
    ]


def cpu_row(section: str, run: Json) -> Row:
    """Where the CPU went per request through the proxy, and the proxy/direct ratio that alone
    allows when the proxy and the app share the CPU (app / (app + proxy))."""
    cpu = run.get("cpu_ms_per_request") or {}
    app, proxy = cpu.get("app", 0.0), cpu.get("proxy", 0.0)
    if not app:
        return Row(section, "CPU per request (proxy run)", "not measured")
    spread = run.get("spread", {}).get("cpu_ms_per_request", {}).get("proxy")
    proxy_text = Spread.from_json(spread).text(".3f", " ms") if spread else f"{proxy:.2f} ms"
    return Row(
        section,
        "CPU per request (proxy run)",
        f"app {app:.2f} ms, proxy {proxy_text}, client {cpu.get('client_in_server', 0):.2f} "
        f"ms: CPU-bound ratio app/(app+proxy) = {app / (app + proxy):.2f}",
    )


def workers_rows(data: Json | None) -> list[Row]:
    section = "workers"
    if not data or "counts" not in data:
        return [not_measured(section, "throughput by worker count", data)]
    rows = [
        Row(
            section,
            f"{count} worker(s), {entry['running']} running",
            f"direct {entry['direct']['requests_per_second']:.0f} req/s, "
            f"proxy {entry['proxy']['requests_per_second']:.0f} req/s "
            f"(p99 {entry['proxy']['p99_ms']:.1f} ms)",
        )
        for count, entry in data["counts"].items()
    ]
    counts = data["counts"]
    best = counts[str(data["best_through_proxy"])]["proxy"]["requests_per_second"]
    default = counts.get(str(data["role_default"]), {}).get("proxy", {})
    share = default.get("requests_per_second", 0.0) / best if best else 0.0
    rows.append(
        Row(
            section,
            "default (= vCPUs) against the best, via proxy",
            f"default {data['role_default']} worker(s) gives {share:.0%} of the best "
            f"({data['best_through_proxy']} workers); sandbox inventory sets "
            f"{data['inventory_workers']}",
            f">= {WORKERS_WITHIN:.0%} of best",
            share >= WORKERS_WITHIN,
        )
    )
    return rows


def crash_rows(engine: str, data: Json | None) -> list[Row]:
    section = f"crash recovery ({engine})"
    target = f"<= {CRASH_TO_200_S:.0f} s" if engine == DEFAULT_ENGINE else "(default only)"
    if not data or "median_s" not in data:
        return [not_measured(section, "kill -9 of uvicorn -> first 200 via proxy", data, target)]
    return [
        Row(
            section,
            "kill -9 of uvicorn -> first 200 via proxy",
            f"median {seconds(data['median_s'])}, max {seconds(data['max_s'])} "
            f"(n={len(data['samples'])}; Docker restart {data['median_restart_s']:.2f} s, "
            f"start -> 200 {data['median_start_to_200_s']:.2f} s)",
            target,
            data["median_s"] <= CRASH_TO_200_S if engine == DEFAULT_ENGINE else None,
        )
    ]


def deploy_rows(data: Json | None) -> list[Row]:
    section = "deploy"
    if not data or not data.get("samples"):
        return [
            not_measured(section, "code-only redeploy (deploy.yml), idle", data, "<= 15 s"),
            not_measured(section, "failed requests under load during it", data, "0"),
        ]
    idle, samples = data["idle"], data["samples"]
    walls = [sample["wall_s"] for sample in samples]
    live = [sample["new_release_first_answer_s"] for sample in samples]
    failed = sum(sample["failed"] for sample in samples)
    total = sum(sample["total"] for sample in samples)
    live_text = ", ".join("-" if value is None else f"{value:.1f}" for value in live)
    return [
        Row(
            section,
            "code-only redeploy (deploy.yml), idle",
            f"{seconds(idle['wall_s'])} (build {idle['build_s'] or 0:.1f} s)",
            f"<= {REDEPLOY_S:.0f} s",
            idle["wall_s"] <= REDEPLOY_S,
        ),
        tasks_row(section, "tasks of the redeploy", idle, TASK_BUDGETS["deploy_code_only"]),
        Row(
            section,
            "code-only redeploy under load",
            f"{', '.join(f'{wall:.1f}' for wall in walls)} s (new release answering "
            f"{live_text} s after the start)",
            f"<= {REDEPLOY_S:.0f} s",
            max(walls) <= REDEPLOY_S,
        ),
        Row(
            section,
            "failed requests under load during it",
            f"{failed} of {total} (stale keep-alive retries: "
            f"{sum(sample['retried'] for sample in samples)}; p99 "
            f"{max(sample['p99_ms'] for sample in samples):.0f} ms, max "
            f"{max(sample['max_ms'] for sample in samples):.0f} ms)",
            "0",
            failed == 0,
        ),
        kinds_row(section, samples),
    ]


def switch_deploy_rows(engine: str, data: Json | None) -> list[Row]:
    """The deploys under load with another engine than the default one serving."""
    section = f"deploy ({engine})"
    if not data or not data.get("samples"):
        return [not_measured(section, "failed requests under load during it", data, "0")]
    samples = data["samples"]
    failed = sum(sample["failed"] for sample in samples)
    total = sum(sample["total"] for sample in samples)
    retried = sum(sample["retried"] for sample in samples)
    return [
        Row(
            section,
            "failed requests under load during it",
            f"{failed} of {total} over {len(samples)} deploys (keep-alive retries: {retried})",
            "0",
            failed == 0,
        ),
        kinds_row(section, samples),
    ]


def kinds_row(section: str, samples: list[Json]) -> Row:
    """Each kind of client's failed and retried requests over the samples. A WebSocket that the
    old release closed cleanly as it stopped, reopened and its message sent again, is shown
    (reconnected), not failed: a release that stops ends the connections it holds."""
    kinds: dict[str, dict[str, int]] = {}
    for sample in samples:
        for kind, counts in sample.get("by_kind", {}).items():
            total = kinds.setdefault(kind, dict.fromkeys(counts, 0))
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
    text = "; ".join(
        f"{kind} {counts['failed']} of {counts['total']}"
        + (f" (retried {counts['retried']})" if counts.get("retried") else "")
        + (f" (reconnected {counts['reconnected']})" if counts.get("reconnected") else "")
        for kind, counts in sorted(kinds.items())
    )
    clean = all(counts["failed"] == counts.get("retried", 0) == 0 for counts in kinds.values())
    return Row(
        section,
        "failed by kind of client (none retried)",
        text or "-",
        "0 each",
        bool(kinds) and clean,
    )


def data_size(count: int) -> str:
    """Bytes in kB below a megabyte (a code-only layer is a few kB), MB above."""
    return f"{count / 1e3:.1f} kB" if count < 1e6 else f"{count / 1e6:.1f} MB"


def pulled_text(sample: Json) -> str:
    pulled = sample.get("pulled") or {}
    return f"{data_size(pulled.get('bytes', 0))} in {pulled.get('blobs', 0)} blobs"


def registry_rows(data: Json | None, built: Json | None) -> list[Row]:
    """The code-only deploy from a registry image, beside the same change built on the server
    (the deploy section) in the same run."""
    section = "registry deploy"
    if not data or not data.get("samples"):
        return [not_measured(section, "code-only deploy from a registry image", data)]
    first, idle, samples = data["first"], data["idle"], data["samples"]
    on_server = ""
    if built and built.get("samples"):
        walls = ", ".join(f"{sample['wall_s']:.1f}" for sample in built["samples"])
        on_server = f"; built on the server: idle {built['idle']['wall_s']:.1f} s, loaded {walls} s"
    failed = sum(sample["failed"] for sample in samples)
    total = sum(sample["total"] for sample in samples)
    pushes = data.get("pushes") or []
    push_text = ", ".join(f"{push['build_s']:.0f}+{push['push_s']:.0f}" for push in pushes)
    return [
        Row(
            section,
            "first deploy from the registry (whole image)",
            f"{seconds(first['wall_s'])} (pull {first.get('pull_s') or 0:.1f} s, pulled "
            f"{pulled_text(first)})",
        ),
        Row(
            section,
            "code-only deploy from the registry, idle",
            f"{seconds(idle['wall_s'])} (pull {idle.get('pull_s') or 0:.1f} s, pulled "
            f"{pulled_text(idle)}){on_server}",
            f"<= {REGISTRY_DEPLOY_S:.0f} s",
            idle["wall_s"] <= REGISTRY_DEPLOY_S,
        ),
        tasks_row(section, "tasks of the registry deploy", idle, TASK_BUDGETS["deploy_registry"]),
        Row(
            section,
            "code-only deploy from the registry under load",
            ", ".join(
                f"{sample['wall_s']:.1f} s (pulled {pulled_text(sample)})" for sample in samples
            ),
            f"<= {REDEPLOY_S:.0f} s",
            max(sample["wall_s"] for sample in samples) <= REDEPLOY_S,
        ),
        Row(
            section,
            "failed requests under load during it",
            f"{failed} of {total} (p99 {max(sample['p99_ms'] for sample in samples):.0f} ms)",
            "0",
            failed == 0,
        ),
        Row(section, "CI side: build + push on the host, each", f"{push_text} s"),
    ]


def database_rows(data: Json | None) -> list[Row]:
    """Reads that query PostgreSQL, and the backup and restore playbooks at the stated size."""
    section = "database"
    if not data or "reads" not in data:
        return [not_measured(section, "GET /notes/{id} and backup/restore", data)]
    seeded, median = data["seeded"], data["reads"]["median"]
    ratio = Spread.from_json(data["reads"]["ratio_proxy_direct"])
    size = (
        f"{seeded['rows']:,} notes of {seeded['note_bytes']} characters, "
        f"database {data_size(seeded['database_bytes'])}"
    )
    restored = data["rows_after"] == data["rows_before"]
    return [
        Row(section, "GET /notes/{id}, direct to the app", load_figures(median["direct"])),
        Row(section, "GET /notes/{id}, through the proxy, HTTPS", load_figures(median["proxy"])),
        Row(section, "proxy/direct on that endpoint", ratio.text(".2f")),
        Row(
            section,
            "backup playbook (db_backup)",
            f"{seconds(data['backup']['seconds'])} for {size}; dump "
            f"{data_size(data['backup_bytes'])}",
        ),
        Row(
            section,
            "restore playbook (db_restore), app stopped to started",
            f"{seconds(data['restore']['seconds'])}; rows after/before "
            f"{data['rows_after']:,}/{data['rows_before']:,}",
            "all rows back",
            restored,
        ),
    ]


def offsite_restore_row(section: str, kind: str, restore: Json) -> Row:
    """The dump brought back from one repository and restored: every row, the same bytes."""
    back = restore["rows_after"] == restore["rows_before"] and restore["dump_identical"]
    return Row(
        section,
        f"off-site restore from {kind.upper()} + db_restore",
        f"{seconds(restore['seconds'])} (offsite_restore "
        f"{restore['offsite_restore']['seconds']:.1f} s, {restore['files_restored']} file(s), "
        f"{'same' if restore['dump_identical'] else 'DIFFERENT'} bytes; db_restore "
        f"{restore['db_restore']['seconds']:.1f} s); rows after/before "
        f"{restore['rows_after']:,}/{restore['rows_before']:,}",
        "all rows back",
        back,
    )


def offsite_rows(data: Json | None) -> list[Row]:
    """The off-site copies at the stated size: the role's install, the backup with its copies,
    what the repositories hold, and the restore from each repository."""
    section = "offsite"
    if not data or "restores" not in data:
        return [not_measured(section, "backup + off-site copy, off-site restore", data)]
    seeded, backup = data["seeded"], data["backup"]
    stored = ", ".join(
        f"{kind.upper()} {'-' if size is None else data_size(size)}"
        for kind, size in data["repository_bytes"].items()
    )
    copy = f", copies {backup['copy_s']:.1f} s" if backup.get("copy_s") is not None else ""
    return [
        Row(
            section,
            "install the role (playbooks/database.yml)",
            f"{seconds(data['apply']['seconds'])}, {data['apply']['changed']} changed",
        ),
        Row(
            section,
            "backup + copy to S3 and SFTP (db_backup)",
            f"{seconds(backup['seconds'])}{copy} for {seeded['rows']:,} notes of "
            f"{seeded['note_bytes']} characters; dump {data_size(data['backup_bytes'])}",
        ),
        Row(section, "repository size (restic stats, raw data)", stored),
        *(
            offsite_restore_row(section, kind, restore)
            for kind, restore in data["restores"].items()
        ),
    ]


def latency_text(latency: Json) -> str:
    if not latency.get("n"):
        return "no job done"
    return f"p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms (n={latency['n']})"


def jobs_rows(data: Json | None) -> list[Row]:
    """Background work: enqueue -> done through the proxy and the worker, idle and during a
    code-only deploy, and the jobs lost or done twice (issue 32)."""
    section = "jobs"
    if not data or "deploy" not in data:
        return [
            not_measured(section, "enqueue -> done, one at a time", data),
            not_measured(section, "jobs lost or done twice during a deploy", data, "0"),
        ]
    at_once, during, idle = data["at_once"], data["deploy"], data["idle_integrity"]
    broken = during["lost"] + during["done_twice"]
    posts = f" (their POSTs {at_once['enqueue_s']:.1f} s of it)" if "enqueue_s" in at_once else ""
    return [
        Row(section, "enqueue -> done, one at a time", latency_text(data["one_at_a_time"])),
        Row(
            section,
            f"{at_once['latency'].get('n', 0)} at once: jobs/s, enqueue -> done",
            f"{at_once['jobs_per_second']:.0f} jobs/s{posts}; {latency_text(at_once['latency'])}",
        ),
        Row(
            section,
            "jobs lost or done twice, idle",
            f"{idle['lost']} lost, {idle['done_twice']} done twice of {idle['jobs']}",
            "0",
            idle["lost"] + idle["done_twice"] == 0,
        ),
        Row(
            section,
            "during a code-only deploy: jobs/s, enqueue -> done",
            f"{during['jobs_per_second']:.0f} jobs/s (median of {during['batches']} batches); "
            f"{latency_text(during['latency'])}; deploy {seconds(during['wall_s'])}",
        ),
        Row(
            section,
            "jobs lost or done twice during a deploy",
            f"{during['lost']} lost, {during['done_twice']} done twice of {during['jobs']} "
            f"({during['working_jobs']} working {during['working_job_s']:.0f} s; run again by "
            f"arq {during['retried_by_arq']}; enqueues refused {during['enqueue_failed']})",
            "0",
            broken == 0 and during["enqueue_failed"] == 0,
        ),
    ]


def alerts_rows(data: Json | None) -> list[Row]:
    """What one run of the alerts checker costs the server, run as its timer runs it: wall time
    and peak memory (median and max over the runs), and the checks it made."""
    section = "alerts"
    if not data or "wall_s" not in data:
        return [
            not_measured(section, "one checker run (systemctl start): wall time", data),
            not_measured(section, "peak memory of one run", data),
        ]
    wall, memory = data["wall_s"], data["memory_peak_bytes"]
    cpu = data.get("cpu_s") or memory.get("cpu_s")
    cpu_text = f"; CPU median {cpu['median']:.2f} s" if cpu else ""
    parts = ""
    if "checker" in memory:
        parts = (
            f": checker {data_size(memory['checker']['median'])}, largest command it ran "
            f"{data_size(memory['largest_command']['median'])}"
        )
    test = {True: "received", False: "NOT received", None: "-"}[data.get("test_alert_received")]
    return [
        Row(
            section,
            "install the checker (playbooks/database.yml)",
            f"{seconds(data['apply']['seconds'])}, {data['apply']['changed']} changed",
        ),
        Row(
            section,
            "one checker run (systemctl start): wall time",
            f"median {wall['median']:.2f} s, max {wall['high']:.2f} s (n={wall['n']}{cpu_text})",
        ),
        Row(
            section,
            "peak memory of one run",
            f"median {data_size(memory['median'])}, max {data_size(memory['high'])} "
            f"({memory['source']}{parts}; n={memory['n']})",
        ),
        Row(
            section,
            "checks one run makes",
            f"{data['checks']} ({data['failing']} failing; runs failed {data['failed_runs']}; "
            f"alerts sent {data['alerts_received']}, test alert {test}; timer after: "
            f"{data.get('timer_after', '?')})",
        ),
    ]


def renewal_rows(engine: str, data: Json | None) -> list[Row]:
    section = f"renewal ({engine})"
    if not data or "renewal" not in data:
        return [not_measured(section, "failed requests during renewals", data, "0")]
    renewal, reload = data["renewal"], data["reload_only"]
    took = [sample["seconds"] for sample in renewal["samples"] if sample["renewed"]]
    return [
        Row(
            section,
            "caddy reload (no renewal): failed requests",
            f"{reload['failed']} of {reload['total']} ({2 * len(reload['samples'])} reloads)",
        ),
        Row(
            section,
            "forced renewals (Caddy's renewal path): failed",
            f"{renewal['failed']} of {renewal['total']} ({len(took)}/{len(renewal['samples'])} "
            f"renewed, new certificate served after {', '.join(f'{t:.1f}' for t in took)} s)",
            "0",
            renewal["failed"] == 0 and len(took) == len(renewal["samples"]),
        ),
    ]


def swarm_rows(data: Json | None) -> list[Row]:
    """Rolling deploys on the swarm scenario's servers, under every kind of client."""
    section = "swarm"
    if not data or not data.get("samples"):
        return [not_measured(section, "rolling deploy under load", data, "0 failed")]
    samples = data["samples"]
    failed = sum(sample["failed"] for sample in samples)
    total = sum(sample["total"] for sample in samples)
    walls = [sample["seconds"] for sample in samples]
    return [
        Row(section, "converge of the fresh servers (site.yml)", seconds(data["converge_s"])),
        Row(
            section,
            "rolling deploy of a new digest, 2 replicas",
            Spread.of(walls, 1).text(".1f", " s")
            + f", {samples[0]['tasks_run']} tasks over the servers",
        ),
        Row(
            section,
            "failed requests under load during it",
            f"{failed} of {total} over {len(samples)} deploys",
            "0",
            failed == 0,
        ),
        kinds_row(section, samples),
    ]


def rebuild_row(deploy: Json | None) -> Row:
    figure = "rebuild after a code-only change (deploy)"
    if not deploy or "idle" not in deploy:
        return not_measured("image", figure, deploy)
    builds = [deploy["idle"], *deploy["samples"]]
    build_times = ", ".join(f"{build['build_s'] or 0:.1f}" for build in builds)
    return Row(
        "image",
        figure,
        f"{build_times} s; "
        f"{builds[0]['layers_new']} new layer(s), {builds[0]['layers_reused']} reused",
        "cache used",
        all(build["layers_new"] <= 1 for build in builds),
    )


def image_rows(data: Json | None, deploy: Json | None) -> list[Row]:
    section = "image"
    if not data or "added_mb" not in data:
        return [
            not_measured(section, "app image over its base", data, "<= 60 MB"),
            rebuild_row(deploy),
        ]
    largest = max(data["layers"], key=lambda layer: layer["mb"])
    return [
        Row(
            section,
            "app image size / added over its base",
            f"{data['size_mb']:.0f} MB / {data['added_mb']:.0f} MB (largest layer "
            f"{largest['mb']:.0f} MB: {largest['created_by'][:45]})",
            f"<= {IMAGE_ADDED_MB:.0f} MB added",
            data["added_mb"] <= IMAGE_ADDED_MB,
        ),
        rebuild_row(deploy),
    ]


def switch_rows(sections: Json) -> list[Row]:
    return [
        Row(
            "engine switch",
            f"playbooks/app.yml -e proxy_engine={name.removeprefix('switch.')}",
            f"{seconds(entry['seconds'])}, {entry['changed']} changed"
            if "seconds" in entry
            else f"failed: {entry.get('error', '?')}",
        )
        for name, entry in sections.items()
        if name.startswith("switch.")
    ]


def rows(results: Json) -> list[Row]:
    sections = results.get("sections", {})
    engines = results.get("engines", [DEFAULT_ENGINE])
    table = provisioning_rows(sections.get("provisioning"))
    for engine in engines:
        table += throughput_rows(engine, sections.get(f"throughput.{engine}"))
    if len(engines) > 1:
        table += engine_rows(sections)
    table += workers_rows(sections.get("workers"))
    for engine in engines:
        table += crash_rows(engine, sections.get(f"crash.{engine}"))
    table += deploy_rows(sections.get("deploy"))
    for engine in engines:
        if engine != DEFAULT_ENGINE:
            table += switch_deploy_rows(engine, sections.get(f"deploy.{engine}"))
    table += registry_rows(sections.get("registry"), sections.get("deploy"))
    for engine in engines:
        table += renewal_rows(engine, sections.get(f"renewal.{engine}"))
    table += image_rows(sections.get("image"), sections.get("deploy"))
    table += database_rows(sections.get("database"))
    table += offsite_rows(sections.get("offsite"))
    table += jobs_rows(sections.get("jobs"))
    table += alerts_rows(sections.get("alerts"))
    table += swarm_rows(sections.get("swarm"))
    table += switch_rows(sections)
    return table


def format_table(table: list[Row]) -> str:
    header = Row("section", "figure", "measured", "target")
    lines = [header, *table]
    widths = [
        max(len(row.section) for row in lines),
        max(len(row.figure) for row in lines),
        max(len(row.value) for row in lines),
        max(len(row.target) for row in lines),
    ]

    def line(row: Row, verdict: str) -> str:
        cells = (row.section, row.figure, row.value, row.target)
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + (
            f"  {verdict}"
        )

    rule = "-" * (sum(widths) + 2 * len(widths) + 3)
    return "\n".join([line(header, "met"), rule, *(line(row, row.verdict()) for row in table)])


def missed(table: list[Row]) -> list[Row]:
    return [row for row in table if row.met is False]


def plot_deploys(results: Json, path: Path) -> bool:
    """Latency of every request through the proxy during each measured deploy, coloured by the
    release that answered, failures in red; returns False when there is nothing to plot."""
    samples = (results.get("sections", {}).get("deploy") or {}).get("samples") or []
    timelines = [
        (sample, json.loads(Path(sample["timeline_file"]).read_text()))
        for sample in samples
        if Path(sample.get("timeline_file", "")).is_file()
    ]
    if not timelines:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(
        len(timelines), 1, figsize=(11, 3.6 * len(timelines)), squeeze=False
    )
    for axis, (sample, timeline) in zip(axes[:, 0], timelines, strict=True):
        draw_deploy(axis, sample, timeline)
    figure.suptitle(f"Latency through the proxy during code-only deploys ({results['mode']} run)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return True


def draw_deploy(axis: Any, sample: Json, timeline: list[list[Any]]) -> None:  # noqa: ANN401
    start = sample["started"]
    by_release: dict[str, tuple[list[float], list[float]]] = {}
    failures: tuple[list[float], list[float]] = ([], [])
    for started, latency_ms, status, release, *_ in timeline:
        if status != 200:
            failures[0].append(started - start)
            failures[1].append(max(latency_ms, 0.1))
            continue
        points = by_release.setdefault(release or "?", ([], []))
        points[0].append(started - start)
        points[1].append(max(latency_ms, 0.1))
    for release, (times, latencies) in by_release.items():
        label = f"{release} ({len(times)} answers)"
        axis.scatter(times, latencies, s=3, alpha=0.5, label=label, rasterized=True)
    if failures[0]:
        axis.scatter(*failures, s=25, marker="x", color="red", label=f"failed ({len(failures[0])})")
    axis.axvline(0, color="black", linestyle="--", linewidth=1)
    axis.axvline(sample["finished"] - start, color="black", linestyle=":", linewidth=1)
    axis.set_yscale("log")
    axis.set_xlabel("seconds since deploy.yml started (dashed: start, dotted: end)")
    axis.set_ylabel("latency (ms)")
    axis.set_title(
        f"deploy {sample['index'] + 1}: {sample['wall_s']:.1f} s, {sample['failed']} failed of "
        f"{sample['total']}"
    )
    axis.legend(loc="upper left", fontsize="small", markerscale=3)
    axis.grid(True, which="both", alpha=0.3)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR / "results.json"
    results = json.loads(path.read_text())
    print(format_table(rows(results)))


if __name__ == "__main__":
    main()
