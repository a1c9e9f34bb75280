"""The demo app's scheduled job: counts the notes and records the count, with the time and the
release that ran it, in Redis (the newest RUNS_KEPT). The deploy runs it from a systemd timer in
a one-off container of the live release (app_jobs):

    python -m app.scheduled

GET /scheduled-runs shows what it recorded.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import db, queue

RUNS_KEY = "demo:scheduled-runs"
RUNS_KEPT = 100


def note_count() -> int | None:
    """How many notes there are; None without a database."""
    try:
        with Session(db.engine()) as session:
            return int(session.scalar(select(func.count()).select_from(db.Note)) or 0)
    except db.DatabaseNotConfiguredError:
        return None


def main() -> None:
    url = queue.redis_url()
    if url is None:
        raise SystemExit("REDIS_URL is not set: nowhere to record the run")
    run = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "release": queue.release(),
        "notes": note_count(),
        "pid": os.getpid(),
    }
    client = redis.Redis.from_url(url)
    client.lpush(RUNS_KEY, json.dumps(run))
    client.ltrim(RUNS_KEY, 0, RUNS_KEPT - 1)
    print(f"scheduled run recorded: {run}")


if __name__ == "__main__":
    main()
