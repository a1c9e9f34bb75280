"""The demo app's background work: jobs queued in Redis and done by a worker process, with arq
(asyncio-native like the app, small, jobs kept in Redis with their results; see the README's
"Background work"). The worker is a container of the same release, started by the deploy with
`arq app.queue.WorkerSettings` (app_processes); the web process only enqueues and reads.

REDIS_URL names the queue's Redis (redis://:<password>@redis:6379/0); without it, the app
serves everything but the jobs' endpoints.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from arq.connections import RedisSettings

# How long a worker lets its current jobs finish after the stop signal (a deploy moving the
# processes to a new release) before it cancels them; a cancelled job is queued again. Below the
# container's grace period (app_processes' stop_timeout), which ends in SIGKILL.
GRACE_SECONDS = int(os.environ.get("WORKER_GRACE_SECONDS", "20"))
# The longest a demo job may pretend to work: long enough to span a deploy.
MAX_JOB_SECONDS = 60.0


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


def release() -> str:
    return os.environ.get("APP_RELEASE", "dev")


async def count_words(ctx: dict[str, Any], text: str, seconds: float = 0.0) -> dict[str, Any]:
    """The demo job: counts a text's words after `seconds` of pretended work, and says which
    release's worker did it."""
    await asyncio.sleep(min(max(seconds, 0.0), MAX_JOB_SECONDS))
    return {"words": len(text.split()), "release": release()}


class WorkerSettings:
    """`arq app.queue.WorkerSettings`: the worker process."""

    functions: ClassVar = [count_words]
    redis_settings = RedisSettings.from_dsn(redis_url() or "redis://localhost:6379")
    job_completion_wait = GRACE_SECONDS
    # A job cancelled by a stop is run again by the next worker, not dropped.
    max_tries = 3
