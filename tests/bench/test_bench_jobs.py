"""The jobs section's figures and verdicts, on worker logs as arq and Docker write them (no
sandbox needed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bench import common, jobs, report
from harness import worker_log

# `docker logs --timestamps` of two workers: arq's lines for a job started, done, cancelled by
# a stop and run again, after Docker's stamp (UTC, nanoseconds).
WORKER_LOG = """\
2026-12-05T00:20:00.000000000Z 00:20:00: Starting worker for 1 functions: count_words
2026-12-05T00:20:01.100000000Z 00:20:01:   0.05s → aaa:count_words('bench job 0', 0.0)
2026-12-05T00:20:01.150000000Z 00:20:01:   0.00s ← aaa:count_words ● {'words': 3}
2026-12-05T00:20:01.200000000Z 00:20:01:   0.01s → bbb:count_words('bench job 1', 2.0)
2026-12-05T00:20:02.000000000Z 00:20:02:   0.80s ↻ bbb:count_words cancelled, will be run again
2026-12-05T00:20:04.500000000Z 00:20:04:   2.00s ← bbb:count_words ● {'words': 3}
2026-12-05T00:20:04.600000000Z 00:20:04:   0.00s ← ccc:count_words ● {'words': 3}
2026-12-05T00:20:04.700000000Z 00:20:04:   0.00s ← ccc:count_words ● {'words': 3}
"""
T0 = 1_796_430_000.0  # 2026-12-05T00:20:00Z


def test_the_worker_log_gives_each_job_done_and_run_again() -> None:
    done, retried = worker_log.parse_worker_log(WORKER_LOG)
    assert done["aaa"] == [pytest.approx(T0 + 1.15)]
    assert len(done["ccc"]) == 2
    assert "bbb" in done
    assert retried == {"bbb": 1}


def test_latency_runs_from_the_enqueue_to_the_first_time_done() -> None:
    done, _ = worker_log.parse_worker_log(WORKER_LOG)
    enqueued = {"aaa": T0 + 1.0, "ccc": T0 + 4.5, "never": T0 + 1.0}
    assert jobs.latencies_ms(enqueued, done) == [pytest.approx(150.0), pytest.approx(100.0)]


def test_a_batch_rate_counts_its_jobs_over_first_enqueue_to_last_done() -> None:
    done = {"a": [10.5], "b": [11.0], "c": [12.0, 12.5]}
    assert jobs.jobs_per_second({"a": 10.0, "b": 10.1, "c": 10.2}, done) == 1.5
    assert jobs.jobs_per_second({"x": 10.0}, done) == 0.0
    assert jobs.enqueue_span_s({"a": 10.0, "b": 10.1, "c": 10.25}) == 0.25
    assert jobs.enqueue_span_s({}) == 0.0


def test_lost_and_twice_done_jobs_are_counted() -> None:
    done = {"a": [1.0], "b": [1.0, 2.0], "c": [1.0]}
    # c was logged done but never answered complete: lost to its client.
    assert jobs.integrity(["a", "b", "c", "d"], done, {"a", "b"}) == {
        "jobs": 4,
        "lost": 2,
        "done_twice": 1,
    }
    assert jobs.integrity(["a"], done, {"a"}) == {"jobs": 1, "lost": 0, "done_twice": 0}


def test_latencies_are_summed_up_with_the_load_generators_percentiles() -> None:
    """One definition of a percentile for every bench figure (the deploy rows' p99 too)."""
    values = [float(value) for value in range(1, 101)]
    assert jobs.latency_summary(values) == {
        "n": 100, "p50_ms": 50.5, "p99_ms": 99.0, "max_ms": 100.0,
    }  # fmt: skip
    assert jobs.latency_summary([7.0]) == {"n": 1, "p50_ms": 7.0, "p99_ms": 7.0, "max_ms": 7.0}


def test_a_latency_summary_of_no_job_says_so() -> None:
    assert jobs.latency_summary([]) == {"n": 0}
    assert jobs.latency_summary([10.0, 30.0, 20.0]) == {
        "n": 3, "p50_ms": 20.0, "p99_ms": 29.8, "max_ms": 30.0,
    }  # fmt: skip


def test_the_scenarios_redis_is_turned_on_without_showing_its_password() -> None:
    extra, secret = jobs.jobs_vars(jobs.scenario_vars(), ["postgres"])
    assert extra["redis_enabled"] is True
    assert extra["app_extra_networks"] == ["postgres", "redis"]
    assert extra["app_processes"][0]["command"] == ["arq", "app.queue.WorkerSettings"]
    assert "REDIS_URL" in extra["app_env"]
    assert "app_jobs" not in extra
    assert list(secret) == ["redis_password"]
    assert secret["redis_password"] not in json.dumps(extra)
    assert jobs.jobs_vars(jobs.scenario_vars(), ["redis"])[0]["app_extra_networks"] == ["redis"]


def test_secret_vars_go_in_a_private_file_that_no_log_shows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: dict[str, object] = {}

    def fake_run_playbook(path: str, *options: str, **kwargs: object) -> object:
        secrets = Path(options[1].removeprefix("@"))
        seen.update(
            options=options,
            secrets=json.loads(secrets.read_text()),
            mode=stat.S_IMODE(secrets.stat().st_mode),
            extra_vars=kwargs["extra_vars"],
        )
        return type("Result", (), {"returncode": 0, "stdout": RECAP, "stderr": ""})()

    monkeypatch.setattr(common, "run_playbook", fake_run_playbook)
    monkeypatch.setattr(common, "LOG_DIR", tmp_path)
    common.playbook("site.yml", "secret", {"redis_enabled": True}, {"redis_password": "s3cret!"})
    assert seen["options"][0] == "-e"  # type: ignore[index]
    assert seen["secrets"] == {"redis_password": "s3cret!"}
    assert seen["mode"] == 0o600
    assert seen["extra_vars"] == {"redis_enabled": True}
    assert "s3cret!" not in capsys.readouterr().err


RECAP = """
PLAY RECAP *********************************************************************
fastapi-sandbox-server     : ok=10   changed=1    unreachable=0    failed=0    skipped=2    \
rescued=0    ignored=0
"""


def jobs_results(lost: int = 0, twice: int = 0) -> dict[str, object]:
    latency = {"n": 40, "p50_ms": 12.0, "p99_ms": 48.0, "max_ms": 48.0}
    return {
        "one_at_a_time": latency,
        "at_once": {
            "latency": latency, "jobs_per_second": 180.0, "batches": 1, "enqueue_s": 0.2,
        },
        "idle_integrity": {"jobs": 80, "lost": 0, "done_twice": 0},
        "deploy": {
            "latency": {**latency, "p99_ms": 900.0}, "jobs_per_second": 120.0, "batches": 9,
            "wall_s": 21.0, "working_jobs": 9, "working_job_s": 2.0, "retried_by_arq": 1,
            "enqueue_failed": 0, "jobs": 189, "lost": lost, "done_twice": twice,
        },
    }  # fmt: skip


def test_jobs_rows_judge_lost_and_twice_done_jobs() -> None:
    rows = {row.figure: row for row in report.jobs_rows(jobs_results())}
    assert rows["enqueue -> done, one at a time"].value == "p50 12 ms, p99 48 ms (n=40)"
    assert rows["40 at once: jobs/s, enqueue -> done"].value.startswith(
        "180 jobs/s (their POSTs 0.2 s of it);"
    )
    during = rows["jobs lost or done twice during a deploy"]
    assert during.met is True
    assert during.value.startswith("0 lost, 0 done twice of 189 (9 working 2 s; run again by")
    assert not report.jobs_rows(jobs_results(lost=1))[-1].met
    assert not report.jobs_rows(jobs_results(twice=1))[-1].met


def test_jobs_rows_say_why_nothing_was_measured() -> None:
    rows = report.jobs_rows({"error": "BenchError: no worker container on the server"})
    assert rows[0].value == "not measured: BenchError: no worker container on the server"
    assert report.jobs_rows(None)[1].value == "not measured: section not run"
