"""The alerts section's settings, parsing and figures (no sandbox needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import alerts, report, run
from bench.common import FULL, SMOKE, BenchError

# `systemctl show -p...` after one run, on Debian 12's systemd 252 (no MemoryPeak) and on one
# that has it.
SHOW_252 = """ExecMainStartTimestampMonotonic=912345678
ExecMainExitTimestampMonotonic=912987654
ExecMainStatus=0
Result=success
CPUUsageNSec=402113000
"""
SHOW_PEAK = SHOW_252 + "MemoryPeak=23068672\n"
STATUS = """ok: backup:database dumps: database dumps: none yet (since 2026-12-05 21:40 UTC)
ok: certificate:app.example.test: app.example.test: valid 89 days (since 2026-12-05 21:40 UTC)
FAILING: disk:/var/backups: /var/backups: 8% free (since 2026-12-05 21:40 UTC)
ok: health:app: app: https://app.example.test/api/v1/health answered HTTP/1.1 200 OK (since \
2026-12-05 21:40 UTC)
"""


def test_the_scenario_sender_points_at_the_bench_receiver() -> None:
    url = alerts.receiver_url("172.28.210.2", "172.28.210.0/24")
    assert url == "http://172.28.210.2:9099/alerts"
    extra = alerts.alerts_vars(alerts.scenario_vars(), url)
    assert extra == {
        "alerts_enabled": True,
        "alerts_senders": [{"kind": "webhook", "url": url}],
        "alerts_cafile": "/usr/local/share/pebble-root.pem",
    }


def test_a_receiver_off_the_sandbox_network_is_refused() -> None:
    with pytest.raises(BenchError):
        alerts.receiver_url("10.0.0.5", "172.28.210.0/24")


def test_role_names_come_from_its_vars() -> None:
    assert alerts.role_var("alerts_unit") == "fastapi-alerts"
    assert alerts.role_var("alerts_checker") == "/usr/local/bin/fastapi-alerts"
    assert alerts.role_var("alerts_config_file") == "/etc/fastapi-deploy/alerts/config.json"


def test_a_run_is_timed_from_the_main_process_start_to_its_exit() -> None:
    sample = alerts.run_sample(alerts.parse_show(SHOW_252))
    assert sample == {
        "wall_s": 0.642,
        "cpu_s": 0.402,
        "memory_peak_bytes": None,
        "result": "success",
        "exit_status": 0,
    }
    assert alerts.run_sample(alerts.parse_show(SHOW_PEAK))["memory_peak_bytes"] == 23_068_672


@pytest.mark.parametrize("value", ["[not set]", "infinity", ""])
def test_an_unset_memory_peak_is_none(value: str) -> None:
    show = alerts.parse_show(SHOW_252 + f"MemoryPeak={value}\n")
    assert alerts.run_sample(show)["memory_peak_bytes"] is None


def test_a_run_systemd_did_not_record_is_an_error() -> None:
    with pytest.raises(BenchError):
        alerts.run_sample(alerts.parse_show("ExecMainStartTimestampMonotonic=0\nResult=success"))


def test_the_one_liner_gives_both_peaks_in_bytes_and_the_larger() -> None:
    output = (
        "ok: docker: docker: answering\n"
        '{"exit_status": 0, "self_kib": 19876, "children_kib": 38856, "cpu_s": 0.1234}\n'
    )
    assert alerts.parse_rusage(output) == {
        "exit_status": 0,
        "checker_bytes": 19876 * 1024,
        "largest_command_bytes": 38856 * 1024,
        "max_rss_bytes": 38856 * 1024,
        "cpu_s": 0.123,
    }


def test_the_one_liner_runs_the_checker_in_its_own_process(tmp_path: Path) -> None:
    """The one-liner itself, here, on a stand-in checker that runs a command and exits 1."""
    stand_in = tmp_path / "checker"
    stand_in.write_text(
        "import subprocess, sys\nprint('ok: x: y')\nsubprocess.run(['true'])\nsys.exit(1)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", alerts.RUSAGE_ONE_LINER, str(stand_in), "--config", "x"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    usage = alerts.parse_rusage(result.stdout)
    assert result.stdout.count("\n") == 1  # the checker's own output kept apart
    assert usage["exit_status"] == 1
    assert usage["checker_bytes"] > 1_000_000
    assert usage["largest_command_bytes"] > 0


def test_runs_under_getrusage_give_a_median_and_a_max() -> None:
    runs = [
        {"exit_status": 0, "checker_bytes": c, "largest_command_bytes": 40, "max_rss_bytes": 40,
         "cpu_s": 0.1}
        for c in (10, 12, 11)
    ]  # fmt: skip
    memory = alerts.rusage_memory(runs)
    assert (memory["median"], memory["high"], memory["n"]) == (40, 40, 3)
    assert (memory["checker"]["median"], memory["checker"]["high"]) == (11, 12)
    assert memory["failed_runs"] == 0


def test_checks_are_the_status_lines() -> None:
    assert alerts.count_checks(STATUS) == (4, 1)
    assert alerts.count_checks("no check has run yet\n") == (0, 0)


def test_the_section_is_selectable_and_shorter_in_smoke_runs() -> None:
    assert "alerts" in run.SECTIONS
    assert SMOKE.alerts_runs < FULL.alerts_runs == 10


def figures(memory: dict[str, object]) -> dict[str, object]:
    return {
        "apply": {"seconds": 12.3, "changed": 6},
        "wall_s": {"median": 0.64, "low": 0.6, "high": 1.2, "n": 10},
        "cpu_s": {"median": 0.4, "low": 0.35, "high": 0.6, "n": 10},
        "memory_peak_bytes": memory,
        "checks": 4,
        "failing": 0,
        "failed_runs": 0,
        "alerts_received": 0,
        "test_alert_received": True,
        "timer_after": "absent",
    }


def test_the_table_shows_median_and_max_of_each() -> None:
    memory = {"source": "systemd MemoryPeak", "median": 2.1e7, "low": 2e7, "high": 2.5e7, "n": 10}
    rows = report.alerts_rows(figures(memory))
    values = {row.figure: row.value for row in rows}
    assert values["one checker run (systemctl start): wall time"] == (
        "median 0.64 s, max 1.20 s (n=10; CPU median 0.40 s)"
    )
    assert values["peak memory of one run"] == (
        "median 21.0 MB, max 25.0 MB (systemd MemoryPeak; n=10)"
    )
    assert values["checks one run makes"].startswith("4 (0 failing;")
    table = report.rows({"sections": {"alerts": figures(memory)}})
    assert [row.figure for row in table if row.section == "alerts"] == [row.figure for row in rows]


def test_getrusage_runs_show_the_checker_and_its_largest_command() -> None:
    memory = {
        "source": "getrusage",
        **{"median": 4e7, "low": 3.9e7, "high": 4.1e7, "n": 10},
        "checker": {"median": 1.9e7, "low": 1.9e7, "high": 2e7, "n": 10},
        "largest_command": {"median": 4e7, "low": 3.9e7, "high": 4.1e7, "n": 10},
        "cpu_s": {"median": 0.12, "low": 0.1, "high": 0.2, "n": 10},
    }
    data = {**figures(memory), "cpu_s": None}
    wall, peak, checks = report.alerts_rows(data)[1:]
    assert wall.value.endswith("(n=10; CPU median 0.12 s)")
    assert peak.value == (
        "median 40.0 MB, max 41.0 MB (getrusage: checker 19.0 MB, largest command it ran "
        "40.0 MB; n=10)"
    )
    assert "test alert received" in checks.value


def test_a_failed_section_is_shown_not_measured() -> None:
    rows = report.alerts_rows({"error": "BenchError: no receiver"})
    assert all(row.value.startswith("not measured: BenchError") for row in rows)
