#!/usr/bin/env python3
"""Bounded HTTPS load from a client container, every answer recorded, by kind of client.

Runs inside the client container (standard library only: Debian's python3). It stops at the
first of: --duration seconds, --max-requests requests, or the --stop-file appearing. It prints
one JSON object: totals and the same per kind of client, failures with their reasons, latency
percentiles, which release answered (the --release-header) and when each release was first and
last seen.

The kinds of client (--clients keepalive=2,fresh=1,...; by default --concurrency keep-alive):
- keepalive: GETs of --url on one connection kept open;
- fresh: GETs of --url, each on a new connection (a new TLS handshake);
- post: POSTs of a small body to --post-path, on one connection kept open;
- long: GETs of --long-path (a request that takes seconds), on one connection kept open;
- websocket: messages on a WebSocket at --websocket-path, each answered by an echo.
Paths are relative to --url (with the site's prefix).

A request counts as failed when it gets no answer, a status other than 200, or a TLS error; a
message when its echo does not come. Like curl, browsers and Go's client (RFC 9112 section
9.3.1), a GET that finds its reused keep-alive connection closed by the server before any answer
byte is retried once on a new connection: such a retry is counted (`retried`), never hidden. A
POST is never retried: the same closed connection fails it. A WebSocket the server closes
cleanly (a close frame) is opened again and the message sent again, counted as `reconnected`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import socket
import ssl
import statistics
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

KINDS = ("keepalive", "fresh", "post", "long", "websocket")
# What a POST carries: small, so that the request is about the connection, not the upload.
POST_BODY = b"x" * 512
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLEOFError,
)


@dataclass
class Sample:
    kind: str
    started: float
    latency: float
    status: int
    release: str
    error: str


class StaleConnection(Exception):
    """The server closed a reused connection before any byte of the answer."""


@dataclass
class Worker:
    """One client of a kind, sending one request (or message) after another."""

    kind: str
    url: str
    context: ssl.SSLContext | None
    release_header: str
    timeout: float
    max_per_connection: int = 0
    # Seconds from one request's start to the next one's (0: back to back).
    interval: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    retries: int = 0
    reconnects: int = 0
    connection: http.client.HTTPConnection | None = None
    answered_on_connection: int = 0
    websocket: WebSocket | None = None
    sent: int = 0

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
        method, body = ("POST", POST_BODY) if self.kind == "post" else ("GET", None)
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        try:
            self.connection.request(method, self.path(), body=body, headers=headers)
            response = self.connection.getresponse()
        except STALE_CONNECTION_ERRORS as closed:
            if self.answered_on_connection == 0:
                raise
            raise StaleConnection(f"{type(closed).__name__}: {closed}") from closed
        response.read()
        self.answered_on_connection += 1
        if (
            response.will_close
            or self.kind == "fresh"
            or self.answered_on_connection == self.max_per_connection
        ):
            self.close()
        return response.status, response.getheader(self.release_header, "")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None
        if self.websocket is not None:
            self.websocket.close()
        self.websocket = None

    def http_request(self) -> tuple[int, str]:
        try:
            return self.exchange()
        except StaleConnection as stale:
            self.close()
            if self.kind == "post":
                raise http.client.HTTPException(
                    f"connection closed before an answer (a POST is not retried): {stale}"
                ) from stale
            self.retries += 1
            return self.exchange()

    def websocket_message(self) -> tuple[int, str]:
        self.sent += 1
        text = f"message {self.sent}"
        for attempt in range(2):
            if self.websocket is None:
                self.websocket = WebSocket.open(self.url, self.context, self.timeout)
            try:
                answer = self.websocket.echo(text)
            except ClosedByServer:
                self.close()
                if attempt:
                    raise
                self.reconnects += 1
                continue
            if answer.get("echo") != text:
                raise http.client.HTTPException(f"the echo of {text!r} was {answer!r}")
            return 101, str(answer.get("release", ""))
        raise AssertionError("unreachable")

    def one_request(self, origin: float) -> None:
        started = time.monotonic()
        try:
            if self.kind == "websocket":
                status, release = self.websocket_message()
            else:
                status, release = self.http_request()
            error = "" if status in (200, 101) else f"status {status}"
        except (OSError, http.client.HTTPException, ClosedByServer) as failure:
            self.close()
            status, release, error = 0, "", f"{type(failure).__name__}: {failure}"
        latency = time.monotonic() - started
        self.samples.append(Sample(self.kind, started - origin, latency, status, release, error))

    def run(self, origin: float, should_stop: threading.Event, budget: Budget) -> None:
        while not should_stop.is_set() and budget.take():
            started = time.monotonic()
            self.one_request(origin)
            if self.interval:
                should_stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        self.close()


class ClosedByServer(Exception):
    """The server closed a WebSocket cleanly (a close frame), e.g. its release going away."""


@dataclass
class WebSocket:
    """A client WebSocket (RFC 6455) over a plain or TLS socket: text frames out (masked),
    frames in; pings answered."""

    sock: socket.socket
    buffer: bytes = b""

    @classmethod
    def open(cls, url: str, context: ssl.SSLContext | None, timeout: float) -> WebSocket:
        parts = urlsplit(url)
        secure = parts.scheme in ("https", "wss")
        host = parts.hostname or ""
        raw = socket.create_connection((host, parts.port or (443 if secure else 80)), timeout)
        sock = context.wrap_socket(raw, server_hostname=host) if secure and context else raw
        key = base64.b64encode(os.urandom(16)).decode()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        websocket = cls(sock)
        head = websocket.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest())
        if (
            status_line.split()[1:2] != ["101"]
            or headers.get("sec-websocket-accept") != accept.decode()
        ):
            sock.close()
            raise http.client.HTTPException(f"WebSocket handshake refused: {status_line}")
        return websocket

    def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the connection closed without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the connection closed during the handshake")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> tuple[int, bytes]:
        first, second = self.read_exactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self.read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self.read_exactly(8))
        mask = self.read_exactly(4) if second & 0x80 else b""
        payload = self.read_exactly(size)
        if mask:
            payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        return first & 0x0F, payload

    def echo(self, text: str) -> dict:
        self.send(0x1, text.encode())
        while True:
            opcode, payload = self.receive()
            if opcode == 0x9:  # ping: answer, then keep waiting for the echo
                self.send(0xA, payload)
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                raise ClosedByServer(f"close frame {code}")
            elif opcode == 0x1:
                return json.loads(payload)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(0x8, struct.pack("!H", 1000))
        self.sock.close()


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


def by_kind(workers: list[Worker]) -> dict[str, dict[str, int]]:
    """Each kind of client's requests: total, ok, failed, retried (GETs) and reconnected
    (WebSockets closed cleanly by the server)."""
    kinds: dict[str, dict[str, int]] = {}
    for worker in workers:
        counts = kinds.setdefault(
            worker.kind, {"total": 0, "ok": 0, "failed": 0, "retried": 0, "reconnected": 0}
        )
        counts["total"] += len(worker.samples)
        counts["failed"] += sum(1 for sample in worker.samples if sample.error)
        counts["ok"] = counts["total"] - counts["failed"]
        counts["retried"] += worker.retries
        counts["reconnected"] += worker.reconnects
    return kinds


def error_kind(error: str) -> str:
    """What went wrong, without the details: the exception's name, or the unexpected status."""
    return error.split(":", 1)[0]


def error_spans(failed: list[Sample]) -> dict[str, list[float]]:
    spans: dict[str, list[float]] = {}
    for sample in sorted(failed, key=lambda sample: sample.started):
        span = spans.setdefault(error_kind(sample.error), [sample.started, sample.started])
        span[1] = sample.started
    return {kind: [round(first, 3), round(last, 3)] for kind, (first, last) in spans.items()}


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
        # Every failure, by the error's kind: the list below keeps only the first 50.
        "failed_by_error": dict(Counter(error_kind(sample.error) for sample in failed)),
        # When each kind of failure was first and last seen (seconds from the start): how long a
        # window it spans, whatever the list below keeps.
        "error_spans": error_spans(failed),
        "failures": [
            {"at": round(sample.started, 3), "kind": sample.kind, "error": sample.error}
            for sample in failed[:50]
        ],
        "releases": releases,
        "last_release": max(ok, key=lambda sample: sample.started).release if ok else "",
    }


def timeline(samples: list[Sample]) -> list[list[float | int | str]]:
    return [
        [
            round(sample.started, 4), round(sample.latency * 1000, 2), sample.status,
            sample.release, sample.kind,
        ]
        for sample in sorted(samples, key=lambda sample: sample.started)
    ]  # fmt: skip


def client_kinds(spec: str, concurrency: int) -> list[str]:
    """The kind of each client: --clients keepalive=2,post=1 (counts per kind), or
    --concurrency keep-alive clients."""
    if not spec:
        return ["keepalive"] * concurrency
    kinds = []
    for part in spec.split(","):
        kind, _, count = part.partition("=")
        if kind not in KINDS:
            raise SystemExit(
                f"loadgen: unknown kind of client {kind!r} (one of {', '.join(KINDS)})"
            )
        kinds += [kind] * int(count or 1)
    return kinds


def kind_url(url: str, kind: str, paths: dict[str, str]) -> str:
    """The URL a kind of client asks: --url, or its own path relative to it."""
    if kind not in paths:
        return url
    joined = urljoin(url, paths[kind])
    return joined.replace("https://", "wss://", 1) if kind == "websocket" else joined


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
    parser.add_argument("--concurrency", type=int, default=4, help="keep-alive clients")
    parser.add_argument("--clients", default="", help="kind=count,... (overrides --concurrency)")
    parser.add_argument("--post-path", default="uploads", help="POSTs, relative to --url")
    parser.add_argument(
        "--long-path", default="slow?seconds=2", help="long GETs, relative to --url"
    )
    parser.add_argument("--websocket-path", default="ws", help="the echo, relative to --url")
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
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds from one request's start to the next one's, per client; 0: back to back",
    )
    parser.add_argument("--timeline", action="store_true", help="include every sample")
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    socket.setdefaulttimeout(arguments.timeout)
    context = ssl_context(arguments.cafile, arguments.insecure)
    paths = {
        "post": arguments.post_path,
        "long": arguments.long_path,
        "websocket": arguments.websocket_path,
    }
    workers = [
        Worker(
            kind,
            kind_url(arguments.url, kind, paths),
            context,
            arguments.release_header,
            arguments.timeout,
            arguments.max_per_connection,
            arguments.interval,
        )
        for kind in client_kinds(arguments.clients, arguments.concurrency)
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
    report["by_kind"] = by_kind(workers)
    if arguments.timeline:
        report["timeline"] = timeline(samples)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
