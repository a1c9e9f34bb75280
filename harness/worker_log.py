"""What the demo app's queue worker (arq) logged, read from `docker logs --timestamps`: when
each job was done and which were cancelled to be run again. The bench's jobs section and the
scenarios' worker tests both count jobs done from it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

FUNCTION = "count_words"
# arq's line for a job done: "  0.01s ← <job id>:count_words ● {...}", after Docker's stamp.
DONE_LINE = re.compile(rf"^(?P<stamp>\S+Z) .*? ← (?P<job>[^\s:]+):{FUNCTION} ●", re.M)
RETRIED_LINE = re.compile(rf" ↻ (?P<job>[^\s:]+):{FUNCTION} ", re.M)


def docker_time(value: str) -> float:
    """Epoch seconds of a Docker timestamp (RFC 3339 with nanoseconds, UTC)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", value.strip())
    if not match:
        raise ValueError(f"not a Docker timestamp: {value!r}")
    whole = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return whole + (float(f"0.{match[2]}") if match[2] else 0.0)


def parse_worker_log(text: str) -> tuple[dict[str, list[float]], dict[str, int]]:
    """When each job was logged done (epoch seconds, each time it was), and how many times
    each was cancelled to be run again."""
    done: dict[str, list[float]] = {}
    for match in DONE_LINE.finditer(text):
        done.setdefault(match["job"], []).append(docker_time(match["stamp"]))
    retried: dict[str, int] = {}
    for match in RETRIED_LINE.finditer(text):
        retried[match["job"]] = retried.get(match["job"], 0) + 1
    return done, retried
