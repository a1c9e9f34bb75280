#!/usr/bin/env python3
"""Bounded HTTPS load from a client container: keep-alive GETs, every answer recorded.

Runs inside the client container (standard library only: Debian's python3). It stops at the
first of: --duration seconds, --max-requests requests, or the --stop-file appearing. It prints
one JSON object: totals, failures with their reasons, latency percentiles, which release
answered (the --release-header) and when each release was first and last seen.

A request counts as failed when it gets no answer, a status other than 200, or a TLS error.
Like curl, browsers and Go's client (RFC 9112 section 9.3.1), a GET that finds its reused
keep-alive connection closed by the server before any answer byte is retried once on a new
connection; such retries are counted and reported, never hidden.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLEOFError,
)


@dataclass
class Sample:
    started: float
    latency: float
    status: int
    release: str
    error: str


@dataclass
class Worker:
    url: str
    context: ssl.SSLContext | None
    release_header: str
    timeout: float
    max_per_connection: int = 0
    samples: list[Sample] = field(default_factory=list)
    retries: int = 0
    connection: http.client.HTTPConnection | None = None
    answered_on_connection: int = 0

    def connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        if parts.scheme == "https":
            return http.client.HTTPSConnection(
                parts.hostname or "", parts.port or 443, timeout=self.timeout, context=self.context
            )
        return http.client.HTTPConnection(
            parts.hostname or "", parts.port or 80, timeout=self.timeout
        )

    def path(self) -> str:
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def exchange(self) -> tuple[int, str]:
        if self.connection is None:
            self.connection = self.connect()
            self.answered_on_connection = 0
        self.connection.request("GET", self.path())
        response = self.connection.getresponse()
        response.read()
        self.answered_on_connection += 1
        if response.will_close or self.answered_on_connection == self.max_per_connection:
            self.close()
        return response.status, response.getheader(self.release_header, "")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None

    def one_request(self, origin: float) -> None:
        started = time.monotonic()
        try:
            try:
                status, release = self.exchange()
            except STALE_CONNECTION_ERRORS:
                if self.answered_on_connection == 0:
                    raise
                self.close()
                self.retries += 1
                status, release = self.exchange()
            error = "" if status == 200 else f"status {status}"
        except (OSError, http.client.HTTPException) as failure:
            self.close()
            status, release, error = 0, "", f"{type(failure).__name__}: {failure}"
        latency = time.monotonic() - started
        self.samples.append(Sample(started - origin, latency, status, release, error))

    def run(self, origin: float, should_stop: threading.Event, budget: Budget) -> None:
        while not should_stop.is_set() and budget.take():
            self.one_request(origin)
        self.close()


class Budget:
    """Shared request count limit."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def summarise(samples: list[Sample], retries: int, wall_start: float, elapsed: float) -> dict:
    ok = [sample for sample in samples if not sample.error]
    failed = [sample for sample in samples if sample.error]
    releases: dict[str, dict[str, float | int]] = {}
    for sample in sorted(samples, key=lambda sample: sample.started):
        if sample.error:
            continue
        seen = releases.setdefault(
            sample.release, {"count": 0, "first": sample.started, "last": sample.started}
        )
        seen["count"] = int(seen["count"]) + 1
        seen["last"] = sample.started
    latencies = [sample.latency for sample in ok]
    return {
        "started_at": wall_start,
        "elapsed": round(elapsed, 3),
        "total": len(samples),
        "ok": len(ok),
        "failed": len(failed),
        "retried_stale_connections": retries,
        "requests_per_second": round(len(samples) / elapsed, 1) if elapsed else 0.0,
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "latency_max_ms": round(max(latencies, default=0.0) * 1000, 2),
        "failures": [
            {"at": round(sample.started, 3), "error": sample.error} for sample in failed[:50]
        ],
        "releases": releases,
        "last_release": max(ok, key=lambda sample: sample.started).release if ok else "",
    }


def timeline(samples: list[Sample]) -> list[list[float | int | str]]:
    return [
        [round(sample.started, 4), round(sample.latency * 1000, 2), sample.status, sample.release]
        for sample in sorted(samples, key=lambda sample: sample.started)
    ]


def ssl_context(cafile: str | None, insecure: bool) -> ssl.SSLContext:
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cafile)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cafile", help="CA bundle that verifies the server (HTTPS)")
    parser.add_argument("--insecure", action="store_true", help="skip verification (benchmarks)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0, help="hard limit, seconds")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--stop-file", help="stop as soon as this file exists")
    parser.add_argument("--ready-file", help="touched once the first answer arrived")
    parser.add_argument("--release-header", default="x-app-release")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument(
        "--max-per-connection",
        type=int,
        default=0,
        help="open a new connection (a new TLS handshake) after this many requests; 0: never",
    )
    parser.add_argument("--timeline", action="store_true", help="include every sample")
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    socket.setdefaulttimeout(arguments.timeout)
    context = ssl_context(arguments.cafile, arguments.insecure)
    workers = [
        Worker(
            arguments.url,
            context,
            arguments.release_header,
            arguments.timeout,
            arguments.max_per_connection,
        )
        for _ in range(arguments.concurrency)
    ]
    should_stop = threading.Event()
    budget = Budget(arguments.max_requests)
    origin, wall_start = time.monotonic(), time.time()
    threads = [
        threading.Thread(target=worker.run, args=(origin, should_stop, budget), daemon=True)
        for worker in workers
    ]
    for thread in threads:
        thread.start()
    ready_marked = False
    while any(thread.is_alive() for thread in threads):
        elapsed = time.monotonic() - origin
        if elapsed > arguments.duration or (
            arguments.stop_file and os.path.exists(arguments.stop_file)
        ):
            should_stop.set()
        if arguments.ready_file and not ready_marked and any(w.samples for w in workers):
            Path(arguments.ready_file).touch()
            ready_marked = True
        time.sleep(0.05)
    elapsed = time.monotonic() - origin
    samples = [sample for worker in workers for sample in worker.samples]
    report = summarise(samples, sum(worker.retries for worker in workers), wall_start, elapsed)
    if arguments.timeline:
        report["timeline"] = timeline(samples)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
