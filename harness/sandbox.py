"""A local sandbox: a systemd container standing in for a fresh server, and Pebble as its CA.

`up` starts them on a Docker network of their own, runs `ansible-playbook site.yml` against the
server with inventory/sandbox, writes Pebble's current root CA to .cache/sandbox/pebble-root.pem
and checks the site over verified HTTPS from this host. `down` removes everything it made.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HARNESS_DIR = Path(__file__).resolve().parent
REPO_DIR = HARNESS_DIR.parent
CACHE_DIR = REPO_DIR / ".cache"
STATE_DIR = CACHE_DIR / "sandbox"
PEBBLE_HTTPS_CA = CACHE_DIR / "pebble-https-ca.pem"
PEBBLE_ROOT = STATE_DIR / "pebble-root.pem"
DOMAIN = "app.example.test"
PATH_PREFIX = "/api/v1"

# privileged fails on these hosts (the bounding set lacks CAP_SYS_RESOURCE): what systemd and a
# nested Docker engine need, listed one by one.
SERVER_CAPABILITIES = [
    "AUDIT_CONTROL", "AUDIT_READ", "BLOCK_SUSPEND", "DAC_READ_SEARCH", "IPC_LOCK", "IPC_OWNER",
    "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "NET_ADMIN", "NET_BROADCAST",
    "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
    "SYS_RAWIO", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM",
]  # fmt: skip


@dataclass(frozen=True)
class Sandbox:
    """Names and addresses of one sandbox; they match inventory/sandbox/hosts.yml."""

    network: str = "fastapi-sandbox"
    subnet: str = "172.28.199.0/24"
    pebble: str = "fastapi-sandbox-pebble"
    pebble_address: str = "172.28.199.10"
    server: str = "fastapi-sandbox-server"
    server_address: str = "172.28.199.20"
    # Ports on 127.0.0.1 for the server's 443 and 80; 0 publishes nothing.
    https_port: int = int(os.environ.get("SANDBOX_HTTPS_PORT", "8443"))
    http_port: int = int(os.environ.get("SANDBOX_HTTP_PORT", "8080"))


def log(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def exists(kind: str, name: str) -> bool:
    return docker(kind, "inspect", name, check=False).returncode == 0


def create_network(sandbox: Sandbox) -> None:
    if not exists("network", sandbox.network):
        docker("network", "create", "--subnet", sandbox.subnet, sandbox.network)


def start_pebble(sandbox: Sandbox) -> None:
    if exists("container", sandbox.pebble):
        return
    log("starting Pebble")
    docker(
        "run", "-d", "--name", sandbox.pebble, "--network", sandbox.network,
        "--ip", sandbox.pebble_address, "--network-alias", "pebble",
        "fastapi-deploy/pebble:latest",
    )  # fmt: skip


def start_server(sandbox: Sandbox) -> None:
    if exists("container", sandbox.server):
        return
    log("starting the server container")
    caps = [arg for cap in SERVER_CAPABILITIES for arg in ("--cap-add", cap)]
    published = [
        arg
        for host_port, port in ((sandbox.https_port, 443), (sandbox.http_port, 80))
        if host_port
        for arg in ("-p", f"127.0.0.1:{host_port}:{port}")
    ]
    docker(
        "run", "-d", "--name", sandbox.server, "--hostname", sandbox.server,
        "--network", sandbox.network, "--ip", sandbox.server_address,
        "--network-alias", DOMAIN, *published, *caps,
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
        "-v", "/var/lib/docker",
        "-v", f"{CACHE_DIR / 'images'}:/var/cache/fastapi-deploy/images:ro",
        "--stop-signal", "SIGRTMIN+3",
        "fastapi-deploy/server:bookworm",
    )  # fmt: skip


def wait_for_systemd(sandbox: Sandbox, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = docker("exec", sandbox.server, "systemctl", "is-system-running", check=False)
        if state.stdout.strip() in {"running", "degraded"}:
            return
        time.sleep(1)
    raise SystemExit(f"sandbox: systemd in {sandbox.server} did not finish booting in {timeout} s")


def provision(extra_args: list[str]) -> None:
    log("ansible-playbook -i inventory/sandbox site.yml")
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_DIR / "ansible.cfg")}
    command = ["ansible-playbook", "-i", "inventory/sandbox/hosts.yml", "site.yml", *extra_args]
    subprocess.run(command, cwd=REPO_DIR, env=env, check=True)


def https_get(
    address: str,
    port: int,
    server_name: str,
    path: str,
    cafile: Path,
    headers: dict[str, str] | None = None,
) -> str:
    """GET over HTTPS to an address, verifying the certificate for server_name against cafile."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\n{extra}Connection: close\r\n\r\n"
        tls.sendall(request.encode())
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
    head, _, body = response.decode().partition("\r\n\r\n")
    status = head.split(" ", 2)[1]
    if status != "200":
        raise RuntimeError(f"GET https://{server_name}:{port}{path} answered {status}")
    return body


def save_pebble_root(sandbox: Sandbox) -> None:
    """Pebble makes a new root at every start: fetch the one that signs the site now."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    root = https_get(sandbox.pebble_address, 15000, "pebble", "/roots/0", PEBBLE_HTTPS_CA)
    PEBBLE_ROOT.write_text(root)


def check_site(sandbox: Sandbox) -> str:
    return https_get("127.0.0.1", sandbox.https_port, DOMAIN, f"{PATH_PREFIX}/", PEBBLE_ROOT)


def up(sandbox: Sandbox, extra_args: list[str]) -> None:
    create_network(sandbox)
    start_pebble(sandbox)
    start_server(sandbox)
    wait_for_systemd(sandbox)
    provision(extra_args)
    save_pebble_root(sandbox)
    body = check_site(sandbox)
    url = f"https://{DOMAIN}:{sandbox.https_port}{PATH_PREFIX}/"
    print(
        f"\nThe demo app is served at {url} with a certificate from Pebble.\n"
        f"Verified answer: {body}\n\nTry it:\n"
        f"  curl --resolve {DOMAIN}:{sandbox.https_port}:127.0.0.1 "
        f"--cacert {PEBBLE_ROOT.relative_to(REPO_DIR)} {url}\n"
        f"  curl --resolve {DOMAIN}:{sandbox.https_port}:127.0.0.1 "
        f"--cacert {PEBBLE_ROOT.relative_to(REPO_DIR)} {url}docs\n"
    )


def down(sandbox: Sandbox) -> None:
    for container in (sandbox.server, sandbox.pebble):
        if exists("container", container):
            log(f"removing {container}")
            docker("rm", "-f", "-v", container)
    if exists("network", sandbox.network):
        docker("network", "rm", sandbox.network)
    PEBBLE_ROOT.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "check"])
    parser.add_argument("ansible_args", nargs="*", help="extra ansible-playbook arguments for up")
    args = parser.parse_args()
    sandbox = Sandbox()
    if args.action == "up":
        up(sandbox, args.ansible_args)
    elif args.action == "check":
        print(check_site(sandbox))
    else:
        down(sandbox)


if __name__ == "__main__":
    main()
