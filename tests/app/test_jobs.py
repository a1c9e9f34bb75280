"""The demo app's background work against a real Redis (Debian's redis-server, on loopback, with
a password), real arq workers and a real PostgreSQL: the web process queues, a worker does the
job, a worker told to stop finishes the job it is doing first, and the scheduled job records its
runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis
from arq.connections import RedisSettings
from arq.worker import Worker
from conftest import APP_DIR, free_port
from fastapi.testclient import TestClient

from app import queue
from app.main import app

PASSWORD = "app-tests-redis-password"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway Redis that asks for a password, without persistence."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="app-tests-redis-") as directory:
        server = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", directory,
             "--save", "", "--appendonly", "no", "--requirepass", PASSWORD],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while not answers(url):
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(10)


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


def connect_app(monkeypatch: pytest.MonkeyPatch, url: str | None) -> TestClient:
    if url is None:
        monkeypatch.delenv("REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("REDIS_URL", url)
    app.state.job_pool = None
    return TestClient(app)


@pytest.fixture
def client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    redis.Redis.from_url(redis_url).flushall()
    with connect_app(monkeypatch, redis_url) as client:
        yield client


def work_through_the_queue(redis_url: str) -> None:
    """An arq worker in burst mode: it does every queued job, then returns."""

    async def burst() -> None:
        worker = Worker(
            functions=queue.WorkerSettings.functions,
            redis_settings=RedisSettings.from_dsn(redis_url),
            burst=True,
            handle_signals=False,
        )
        try:
            await worker.main()
        finally:
            await worker.close()

    asyncio.run(asyncio.wait_for(burst(), 30))


def test_a_queued_job_waits_for_a_worker(client: TestClient) -> None:
    queued = client.post("/jobs", json={"text": "one two three"})
    assert queued.status_code == 202
    assert client.get(f"/jobs/{queued.json()['job']}").json()["status"] == "queued"


def test_a_worker_does_the_job_and_its_result_is_read_back(
    client: TestClient, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_RELEASE", "r42")
    job = client.post("/jobs", json={"text": "one two three"}).json()["job"]
    work_through_the_queue(redis_url)
    assert client.get(f"/jobs/{job}").json() == {
        "job": job, "status": "complete", "success": True,
        "result": {"words": 3, "release": "r42"},
    }  # fmt: skip


def test_an_unknown_job_is_not_found(client: TestClient) -> None:
    assert client.get("/jobs/no-such-job").json()["status"] == "not_found"


def test_a_job_longer_than_allowed_is_refused(client: TestClient) -> None:
    answer = client.post("/jobs", json={"text": "x", "seconds": queue.MAX_JOB_SECONDS + 1})
    assert answer.status_code == 422


def test_without_a_queue_the_jobs_answer_503(monkeypatch: pytest.MonkeyPatch) -> None:
    with connect_app(monkeypatch, None) as client:
        answer = client.post("/jobs", json={"text": "x"})
    assert (answer.status_code, answer.json()) == (503, {"detail": "no queue configured"})


def test_a_queue_that_does_not_answer_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    with connect_app(monkeypatch, f"redis://127.0.0.1:{free_port()}/0") as client:
        answer = client.post("/jobs", json={"text": "x"})
    assert (answer.status_code, answer.json()) == (503, {"detail": "queue unavailable"})


def test_a_worker_told_to_stop_finishes_its_current_job_first(
    client: TestClient, redis_url: str
) -> None:
    """What a deploy does to the previous release's worker: SIGTERM while a job runs."""
    job = client.post("/jobs", json={"text": "slow job", "seconds": 3}).json()["job"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "arq", "app.queue.WorkerSettings"],
        cwd=APP_DIR, env={**os.environ, "REDIS_URL": redis_url, "WORKER_GRACE_SECONDS": "20"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while client.get(f"/jobs/{job}").json()["status"] != "in_progress":
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert client.get(f"/jobs/{job}").json()["result"] == {"words": 2, "release": "dev"}


def run_scheduled_job(
    env: dict[str, str], without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`python -m app.scheduled` with `env` added to this environment, `without` left out."""
    environment = {key: value for key, value in {**os.environ, **env}.items() if key not in without}
    return subprocess.run(
        [sys.executable, "-m", "app.scheduled"], cwd=APP_DIR, env=environment,
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_scheduled_job_records_each_run_with_the_note_count(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    client.post("/notes", json={"text": "counted"})
    for release in ("r1", "r2"):
        result = run_scheduled_job(
            {"REDIS_URL": redis_url, "DATABASE_URL": database_url, "APP_RELEASE": release}
        )
        assert result.returncode == 0, result.stderr
    runs = client.get("/scheduled-runs").json()
    assert [(run["release"], run["notes"]) for run in runs] == [("r2", 1), ("r1", 1)]


def test_the_scheduled_job_without_a_queue_fails_saying_so() -> None:
    result = run_scheduled_job({}, without=("REDIS_URL",))
    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stderr
