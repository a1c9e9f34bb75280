"""harness/loadgen.py: what each kind of client sees is what it reports. Against the demo app
served by uvicorn over real TLS on loopback, and against a server that closes each connection
after its answer (a keep-alive connection going stale), on loopback too."""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import loadgen
from harness.common import APP_DIR, LOADGEN, wait_until

RELEASE = "test-release"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture(scope="module")
def demo_app(certificate: tuple[Path, Path]) -> Iterator[str]:
    """The demo app over HTTPS on loopback, its answers carrying the release header."""
    key, cert = certificate
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert),
         "--header", f"x-app-release:{RELEASE}", "--log-level", "warning"],
        cwd=APP_DIR, env={"APP_RELEASE": RELEASE, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    try:
        wait_until(listening, 30)
        yield f"https://localhost:{port}/health"
    finally:
        server.terminate()
        server.wait(10)


def run_loadgen(url: str, cafile: Path, *options: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(LOADGEN), "--url", url, "--cafile", str(cafile), *options],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_every_kind_of_client_is_answered_by_the_release(
    demo_app: str, certificate: tuple[Path, Path]
) -> None:
    report = run_loadgen(
        demo_app, certificate[1], "--duration", "3", "--long-path", "slow?seconds=0.3",
        "--clients", "keepalive=1,fresh=1,post=1,long=1,websocket=1",
    )  # fmt: skip
    assert report["failed"] == 0, report["failures"]
    assert set(report["by_kind"]) == set(loadgen.KINDS)
    for kind, counts in report["by_kind"].items():
        assert counts["ok"] > 0, kind
        assert counts["failed"] == counts["retried"] == counts["reconnected"] == 0, kind
    assert set(report["releases"]) == {RELEASE}


def test_a_paced_client_sends_one_request_per_interval(
    demo_app: str, certificate: tuple[Path, Path]
) -> None:
    report = run_loadgen(
        demo_app, certificate[1], "--duration", "2", "--clients", "keepalive=1",
        "--interval", "0.1",
    )  # fmt: skip
    assert report["failed"] == 0, report["failures"]
    # 2 s at one request per 0.1 s: about 20, where back to back gives hundreds.
    assert 15 <= report["total"] <= 21, report["total"]


def test_a_request_that_gets_no_answer_is_failed_and_named_by_kind(
    certificate: tuple[Path, Path],
) -> None:
    report = run_loadgen(
        f"https://localhost:{free_port()}/health", certificate[1], "--duration", "1",
        "--clients", "fresh=1,websocket=1",
    )  # fmt: skip
    assert report["ok"] == 0
    assert {kind: counts["failed"] > 0 for kind, counts in report["by_kind"].items()} == {
        "fresh": True,
        "websocket": True,
    }
    assert {failure["kind"] for failure in report["failures"]} <= {"fresh", "websocket"}
    assert report["failed_by_error"] == {"ConnectionRefusedError": report["failed"]}


def test_a_certificate_that_does_not_verify_is_a_failure_of_its_own_kind(demo_app: str) -> None:
    """The demo app's certificate checked against the system's CAs, which did not issue it."""
    report = run_loadgen(
        demo_app, Path("/etc/ssl/certs/ca-certificates.crt"), "--duration", "1",
        "--clients", "fresh=1",
    )  # fmt: skip
    assert report["ok"] == 0
    assert report["failed_by_error"] == {"SSLCertVerificationError": report["failed"]}
    first, last = report["error_spans"]["SSLCertVerificationError"]
    assert 0 <= first <= last <= report["elapsed"]


def test_each_kind_of_failure_spans_from_its_first_to_its_last_request() -> None:
    def failure(started: float, error: str) -> loadgen.Sample:
        return loadgen.Sample("fresh", started, 0.01, 0, "", error)

    failed = [
        failure(2.5, "SSLCertVerificationError: certificate verify failed"),
        failure(0.5, "ConnectionRefusedError: [Errno 111]"),
        failure(1.25, "SSLCertVerificationError: certificate verify failed"),
        failure(0.75, "ConnectionRefusedError: [Errno 111]"),
    ]
    assert loadgen.error_spans(failed) == {
        "ConnectionRefusedError": [0.5, 0.75],
        "SSLCertVerificationError": [1.25, 2.5],
    }


class AnswerThenClose(socketserver.BaseRequestHandler):
    """Answers one request as if the connection stayed open, then closes it: the client's next
    request on it finds it closed before any answer."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-app-release: stale\r\n\r\nok"
        )
        time.sleep(0.05)


@pytest.fixture
def stale_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), AnswerThenClose)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


def worker(kind: str, url: str) -> loadgen.Worker:
    return loadgen.Worker(kind, url, None, "x-app-release", timeout=5)


def test_a_get_on_a_stale_connection_is_retried_once_and_counted(stale_server: str) -> None:
    client = worker("keepalive", stale_server)
    for _ in range(3):
        client.one_request(time.monotonic())
        time.sleep(0.1)
    assert [sample.error for sample in client.samples] == ["", "", ""]
    assert client.retries == 2


def test_a_post_on_a_stale_connection_is_failed_not_retried(stale_server: str) -> None:
    client = worker("post", stale_server)
    for _ in range(2):
        client.one_request(time.monotonic())
        time.sleep(0.1)
    assert client.samples[0].error == ""
    assert "a POST is not retried" in client.samples[1].error
    assert client.retries == 0


def test_unknown_kinds_of_client_are_refused() -> None:
    with pytest.raises(SystemExit, match="unknown kind of client 'udp'"):
        loadgen.client_kinds("keepalive=1,udp=2", 4)


def test_without_kinds_every_client_keeps_its_connection_alive() -> None:
    assert loadgen.client_kinds("", 3) == ["keepalive"] * 3
    assert loadgen.client_kinds("fresh=2,post", 3) == ["fresh", "fresh", "post"]


def test_each_kind_asks_its_own_path_under_the_sites_prefix() -> None:
    paths = {"post": "uploads", "websocket": "ws"}
    url = "https://app.example.test/api/v1/health"
    assert loadgen.kind_url(url, "fresh", paths) == url
    assert loadgen.kind_url(url, "post", paths) == "https://app.example.test/api/v1/uploads"
    assert loadgen.kind_url(url, "websocket", paths) == "wss://app.example.test/api/v1/ws"
