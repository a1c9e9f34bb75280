"""A receiver for the alerts' checker (roles/alerts), run in a client container on the server's
network, for the Molecule scenarios and the bench: each POST's body (a webhook alert) is one
line of RECEIVED, each GET's path (the heartbeat) one line of HEARTBEATS."""

from __future__ import annotations

import json
import shlex
from typing import Any

from harness.common import docker, run, wait_until

PORT = 9099
RECEIVED = "/tmp/alerts-received.jsonl"
HEARTBEATS = "/tmp/alerts-heartbeats.log"
PID_FILE = "/tmp/alerts-receiver.pid"
SCRIPT = f"""
import http.server

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open({RECEIVED!r}, "ab") as received:
            received.write(body.replace(b"\\n", b" ") + b"\\n")
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        with open({HEARTBEATS!r}, "a") as heartbeats:
            heartbeats.write(self.path + "\\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("0.0.0.0", {PORT}), Receiver).serve_forever()
"""


def in_container(container: str, command: str) -> str:
    return run("docker", "exec", container, "sh", "-c", command, check=False).stdout


def start(container: str) -> None:
    """The receiver listening in the container, with nothing received yet."""
    stop(container)
    docker(
        "exec", "-d", container, "sh", "-c",
        f"{clear_command()}; echo $$ > {PID_FILE}; exec python3 -c {shlex.quote(SCRIPT)}",
    )  # fmt: skip
    probe = f"import socket; socket.create_connection(('127.0.0.1', {PORT}), timeout=2)"

    def listening() -> bool:
        command = ("docker", "exec", container, "python3", "-c", probe)
        return run(*command, check=False).returncode == 0

    wait_until(listening, 15, interval=0.2)


def stop(container: str) -> None:
    in_container(container, f"[ -f {PID_FILE} ] && kill $(cat {PID_FILE}); rm -f {PID_FILE}")


def clear_command() -> str:
    return f": > {RECEIVED}; : > {HEARTBEATS}"


def clear(container: str) -> None:
    """Forgets what was received (alerts and heartbeats)."""
    in_container(container, clear_command())


def remove(container: str) -> None:
    """The receiver stopped and its files gone."""
    stop(container)
    in_container(container, f"rm -f {RECEIVED} {HEARTBEATS}")


def received(container: str) -> list[dict[str, Any]]:
    """The alerts received, in order."""
    lines = in_container(container, f"cat {RECEIVED}").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def heartbeats(container: str) -> list[str]:
    """The paths of the heartbeats received, in order."""
    return in_container(container, f"cat {HEARTBEATS}").split()
