"""The bench's parsing and reporting, on outputs captured from real runs (no sandbox needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import common, deploy, load, registry, report, stats
from harness import worker_log
from harness.common import APP_DIR, app_version

RECAP = """
PLAY RECAP *********************************************************************
fastapi-sandbox-server     : ok=112  changed=0    unreachable=0    failed=0    skipped=31   \
rescued=0    ignored=0
localhost                  : ok=1    changed=0    unreachable=0    failed=0    skipped=0    \
rescued=0    ignored=0

Saturday 22 November 2026  23:59:01 +0000 (0:00:00.210)       0:00:17.532 *****
===============================================================================
fastapi_deploy.toolkit.app : Build the app image ------------------------ 3.52s
Gathering Facts --------------------------------------------------------- 1.25s
fastapi_deploy.toolkit.proxy : Wait until answers come from the new upstream --- 10.04s
"""

WRK = """Running 2s test @ http://app-1:8000/
  2 threads and 32 connections
Requests/sec:   1491.37
BENCH_JSON {"requests": 3000, "duration_us": 2000000, "bytes": 1, "errors": {"connect": 0, \
"read": 1, "write": 0, "status": 2, "timeout": 0}, "latency_us": {"p50": 12500, "p90": 30000, \
"p99": 61000, "max": 90000, "mean": 15000.0}}
"""


def test_recap_counts_ok_changed_and_the_tasks_run_on_the_server() -> None:
    assert common.parse_recap(RECAP) == (112, 0, 143)


def test_missing_recap_is_an_error() -> None:
    with pytest.raises(common.BenchError):
        common.parse_recap("ERROR! the playbook could not be found")


def test_a_recap_of_the_controller_alone_is_an_error() -> None:
    with pytest.raises(common.BenchError):
        common.parse_recap(RECAP.replace("fastapi-sandbox-server", "localhost"))


def test_profile_times_every_task() -> None:
    assert common.parse_profile(RECAP) == {
        deploy.BUILD_TASK: 3.52,
        "Gathering Facts": 1.25,
        "fastapi_deploy.toolkit.proxy : Wait until answers come from the new upstream": 10.04,
    }


def test_summary_lists_the_slowest_tasks_first() -> None:
    run = common.PlaybookRun(17.5, 112, 0, 143, common.parse_profile(RECAP), "x.log")
    assert run.summary(top=2)["slowest_tasks"] == [
        ("fastapi_deploy.toolkit.proxy : Wait until answers come from the new upstream", 10.04),
        (deploy.BUILD_TASK, 3.52),
    ]


def test_wrk_result_is_read_from_the_script_line() -> None:
    assert load.parse_wrk(WRK) == {
        "requests_per_second": 1500.0,
        "p50_ms": 12.5,
        "p99_ms": 61.0,
        "max_ms": 90.0,
        "requests": 3000,
        "errors": 3,
    }


def test_docker_timestamps_keep_their_nanoseconds() -> None:
    assert worker_log.docker_time("1970-01-01T00:00:10.123456789Z") == pytest.approx(10.123456789)
    assert worker_log.docker_time("1970-01-01T00:01:00Z") == 60.0


def test_a_code_only_version_differs_from_the_app_by_one_line(tmp_path: Path) -> None:
    source = app_version(tmp_path, "v1")
    original = (APP_DIR / "app" / "main.py").read_text().splitlines()
    assert source.joinpath("app", "main.py").read_text().splitlines()[:-1] == original
    assert source.joinpath("Dockerfile").is_file()


def measured(value: float) -> dict[str, float]:
    return {"requests_per_second": value, "p50_ms": 10.0, "p99_ms": 40.0}


RESULTS = {
    "mode": "smoke",
    "engines": ["caddy", "traefik"],
    "sections": {
        "provisioning": {
            "fresh_s": 90.0, "boot_s": 3.0, "site_yml_s": 85.0, "first_200_after_s": 0.5,
            "rerun": {"seconds": 25.0, "changed": 0},
        },
        "throughput.caddy": {
            "median": {
                "direct": measured(1000), "proxy": measured(700),
                "proxy_from_sandbox_network": measured(650),
            },
            "ratio_proxy_direct": 0.7, "ratio_sandbox_network_direct": 0.65,
        },
        "throughput.traefik": {"error": "BenchError: wrk printed no result"},
        "crash.caddy": {
            "samples": [{}, {}], "median_s": 1.5, "max_s": 1.7, "median_restart_s": 0.1,
            "median_start_to_200_s": 1.4,
        },
        "renewal.traefik": {"not_measured": "Traefik cannot be made to renew early"},
    },
}  # fmt: skip


def test_table_judges_each_figure_against_its_target() -> None:
    rows = {(row.section, row.figure): row for row in report.rows(RESULTS)}
    fresh = rows[("provisioning", "fresh server -> first verified HTTPS 200")]
    assert fresh.met is True
    assert rows[("provisioning", "idempotent rerun of site.yml")].met is False
    assert rows[("throughput (caddy)", "proxy/direct ratio (same client)")].met is False
    assert rows[("crash recovery (caddy)", "kill -9 of uvicorn -> first 200 via proxy")].met


def test_table_says_why_a_figure_was_not_measured() -> None:
    text = report.format_table(report.rows(RESULTS))
    assert "not measured: BenchError: wrk printed no result" in text
    assert "not measured: Traefik cannot be made to renew early" in text
    assert "not measured: section not run" in text


def test_missed_targets_are_listed() -> None:
    missed = [row.figure for row in report.missed(report.rows(RESULTS))]
    assert missed == ["idempotent rerun of site.yml", "proxy/direct ratio (same client)"]


def test_plot_draws_each_deploy(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.json"
    timeline.write_text(
        json.dumps([[0.1, 5.0, 200, "a", "post"], [2.0, 300.0, 200, "b"], [2.1, 1, 0, ""]])
    )
    sample = {
        "index": 0, "started": 0.5, "finished": 3.0, "wall_s": 2.5, "failed": 1, "total": 3,
        "timeline_file": str(timeline),
    }  # fmt: skip
    results = {"mode": "smoke", "sections": {"deploy": {"samples": [sample]}}}
    assert report.plot_deploys(results, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_a_spread_is_the_median_with_min_and_max() -> None:
    spread = stats.Spread.of([2100.0, 1800.0, 2300.0, 2000.0])
    assert (spread.median, spread.low, spread.high, spread.n) == (2050.0, 1800.0, 2300.0, 4)
    assert spread.relative_width() == pytest.approx(500 / 2050)
    assert spread.text(unit=" req/s") == "2050 req/s (1800-2300, n=4)"
    assert stats.Spread.from_json(spread.as_json()) == spread


def test_an_empty_spread_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        stats.Spread.of([])


def test_ratios_pair_runs_taken_back_to_back() -> None:
    assert stats.paired_ratios([600, 900], [1000, 1000]) == [0.6, 0.9]
    assert stats.paired_ratios([600], [0]) == []
    with pytest.raises(ValueError, match="as many"):
        stats.paired_ratios([1, 2], [1])


def wrk_run(rate: float, proxy_ms: float) -> dict[str, object]:
    return {
        "requests_per_second": rate, "p50_ms": 10.0, "p99_ms": 40.0, "max_ms": 60.0,
        "errors": 0, "requests": int(rate * 8),
        "cpu_percent": {"proxy": 50.0}, "cpu_ms_per_request": {"app": 0.5, "proxy": proxy_ms},
    }  # fmt: skip


def test_median_run_keeps_the_spread_of_rate_and_cpu() -> None:
    summary = load.median_run([wrk_run(1000, 0.3), wrk_run(1200, 0.25), wrk_run(900, 0.4)])
    assert summary["requests_per_second"] == 1000
    assert summary["spread"]["requests_per_second"] == {
        "median": 1000.0, "low": 900.0, "high": 1200.0, "n": 3,
    }  # fmt: skip
    assert summary["spread"]["cpu_ms_per_request"]["proxy"]["high"] == 0.4


def throughput(rates: tuple[float, float], proxy_ms: list[float]) -> dict[str, object]:
    proxy = load.median_run([wrk_run(rates[1], ms) for ms in proxy_ms])
    direct = load.median_run([wrk_run(rates[0], 0.0) for _ in proxy_ms])
    ratio = stats.Spread.of([rates[1] / rates[0]] * len(proxy_ms))
    return {
        "median": {"direct": direct, "proxy": proxy, "proxy_from_sandbox_network": proxy},
        "ratio_proxy_direct": ratio.median, "ratio_proxy_direct_spread": ratio.as_json(),
        "ratio_sandbox_network_direct": ratio.median,
    }  # fmt: skip


def test_table_compares_the_engines_cpu_per_request() -> None:
    sections = {
        "throughput.caddy": throughput((1000, 600), [0.25, 0.26, 0.30]),
        "throughput.traefik": throughput((1000, 500), [0.33, 0.29, 0.31]),
    }
    rows = {
        (row.section, row.figure): row
        for row in report.rows({"sections": sections, "engines": ["caddy", "traefik"]})
    }
    engines = rows[("engines", "proxy CPU per request, Traefik / Caddy")]
    assert engines.value.startswith("1.19 (Traefik 0.310 ms (0.290-0.330, n=3)")
    assert engines.met is True
    ratio = rows[("throughput (caddy)", "proxy/direct ratio (same client)")]
    assert ratio.value.startswith("0.60 (0.60-0.60, n=3)")
    rate = rows[("throughput (traefik)", "through the proxy, HTTPS (same client)")]
    assert rate.value.startswith("500 req/s (500-500, n=3)")


REGISTRY_LOG = """\
time="2026-11-30T10:51:46.52Z" level=info msg="response completed" http.request.method=GET \
http.request.uri="/v2/demo/app/manifests/idle" http.response.status=200 http.response.written=1000
time="2026-11-30T10:51:46.53Z" level=info msg="response completed" http.request.method=HEAD \
http.request.uri="/v2/demo/app/manifests/idle" http.response.status=200 http.response.written=0
time="2026-11-30T10:51:46.54Z" level=info msg="authorized request" http.request.method=GET \
http.request.uri="/v2/demo/app/blobs/sha256:36d2"
time="2026-11-30T10:51:46.55Z" level=info msg="response completed" http.request.method=GET \
http.request.uri="/v2/demo/app/blobs/sha256:36d2" http.response.status=200 \
http.response.written=4056
127.0.0.1 - - [30/Nov/2026:10:51:46 +0000] "GET /v2/demo/app/blobs/sha256:36d2 HTTP/1.1" 200 4056
"""


def test_bytes_pulled_are_what_the_registry_wrote_to_gets() -> None:
    assert registry.pulled(REGISTRY_LOG) == {"bytes": 5056, "blobs": 1, "manifests": 1}


def test_registry_rows_sit_beside_the_build_on_the_server() -> None:
    sample = {
        "wall_s": 14.0,
        "failed": 0,
        "total": 900,
        "p99_ms": 80.0,
        "pulled": {"bytes": 5056, "blobs": 1},
    }
    data = {
        "first": {"wall_s": 30.0, "pull_s": 9.0, "pulled": {"bytes": 60_000_000, "blobs": 4}},
        "idle": {"wall_s": 12.0, "pull_s": 1.0, "pulled": {"bytes": 5056, "blobs": 1}},
        "samples": [sample], "pushes": [{"build_s": 3.0, "push_s": 2.0}],
    }  # fmt: skip
    built = {"idle": {"wall_s": 20.0}, "samples": [{"wall_s": 30.0}]}
    rows = {row.figure: row for row in report.registry_rows(data, built)}
    idle = rows["code-only deploy from the registry, idle"]
    assert idle.value == (
        "12.0 s (pull 1.0 s, pulled 5.1 kB in 1 blobs); built on the server: idle 20.0 s, "
        "loaded 30.0 s"
    )
    assert idle.met is True
    assert rows["failed requests under load during it"].met is True
    assert "60.0 MB in 4 blobs" in rows["first deploy from the registry (whole image)"].value


def database_results(rows_after: int) -> dict[str, object]:
    run = {"requests_per_second": 900.0, "p50_ms": 30.0, "p99_ms": 80.0}
    return {
        "seeded": {"rows": 200_000, "note_bytes": 200, "database_bytes": 61_000_000},
        "reads": {
            "median": {"direct": run, "proxy": {**run, "requests_per_second": 600.0}},
            "ratio_proxy_direct": {"median": 0.66, "low": 0.6, "high": 0.7, "n": 3},
        },
        "backup": {"seconds": 4.2},
        "backup_bytes": 9_500_000,
        "restore": {"seconds": 21.5},
        "rows_before": 200_000,
        "rows_after": rows_after,
    }


def test_database_rows_state_the_size_and_judge_the_restore() -> None:
    rows = {row.figure: row for row in report.database_rows(database_results(200_000))}
    backup = rows["backup playbook (db_backup)"]
    assert backup.value == (
        "4.2 s for 200,000 notes of 200 characters, database 61.0 MB; dump 9.5 MB"
    )
    assert rows["restore playbook (db_restore), app stopped to started"].met is True
    assert rows["proxy/direct on that endpoint"].value == "0.66 (0.60-0.70, n=3)"


def test_a_restore_that_lost_rows_misses_its_target() -> None:
    rows = {row.figure: row for row in report.database_rows(database_results(199_999))}
    assert rows["restore playbook (db_restore), app stopped to started"].met is False


def test_a_switch_passes_only_when_no_kind_of_client_failed_or_was_retried() -> None:
    clean = {"total": 10, "ok": 10, "failed": 0, "retried": 0, "reconnected": 0}
    samples = [{"by_kind": {"post": clean, "fresh": clean}}, {"by_kind": {"post": clean}}]
    row = report.kinds_row("deploy", samples)
    assert row.met
    assert row.value == "fresh 0 of 10; post 0 of 20"
    retried = {**clean, "retried": 1}
    assert not report.kinds_row("deploy", [{"by_kind": {"keepalive": retried}}]).met
    failed = {**clean, "ok": 9, "failed": 1}
    assert not report.kinds_row("deploy", [{"by_kind": {"post": failed}}]).met
    reconnected = {**clean, "reconnected": 2}
    row = report.kinds_row("deploy", [{"by_kind": {"websocket": reconnected}}])
    assert row.met
    assert row.value == "websocket 0 of 10 (reconnected 2)"
    assert not report.kinds_row("deploy", [{}]).met


def test_swarm_rows_judge_the_rolling_deploys_by_their_failed_requests() -> None:
    clean = {"total": 10, "ok": 10, "failed": 0, "retried": 0, "reconnected": 0}
    sample = {"seconds": 30.0, "tasks_run": 90, "total": 10, "failed": 0}
    sample["by_kind"] = {"post": clean}
    data = {"converge_s": 120.0, "samples": [sample, {**sample, "seconds": 34.0}]}
    converge, deploy, failed, kinds = report.swarm_rows(data)
    assert converge.value == "120.0 s"
    assert deploy.value == "32.0 s (30.0-34.0, n=2), 90 tasks over the servers"
    assert (failed.value, failed.met, kinds.met) == ("0 of 20 over 2 deploys", True, True)
    lost = {**sample, "failed": 1, "by_kind": {"post": {**clean, "ok": 9, "failed": 1}}}
    _, _, failed, kinds = report.swarm_rows({**data, "samples": [lost]})
    assert (failed.met, kinds.met) == (False, False)
    assert report.swarm_rows({"error": "BenchError: no swarm"})[0].value.startswith("not measured")
