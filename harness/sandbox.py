"""A local sandbox: a systemd container standing in for a fresh server, and Pebble as its CA.

`up` starts them on a Docker network of their own, runs `ansible-playbook site.yml` against the
server with inventory/sandbox, writes Pebble's current root CA to .cache/sandbox/pebble-root.pem
and checks the site over verified HTTPS from this host. `down` removes everything it made.

The names and addresses come from inventory/sandbox, the server container's settings from
Molecule's base configuration (the scenarios' server): each is written down once.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from harness.common import (
    CACHE_DIR,
    REPO_DIR,
    SITE_PLAYBOOK,
    docker,
    docker_exists,
    inventory_host,
    inventory_vars,
    logger,
    run,
    run_playbook,
    server_platform,
    wait_until,
)

STATE_DIR = CACHE_DIR / "sandbox"
PEBBLE_HTTPS_CA = CACHE_DIR / "pebble-https-ca.pem"
PEBBLE_ROOT = STATE_DIR / "pebble-root.pem"
PEBBLE_IMAGE = "fastapi-deploy/pebble:latest"
# The last byte of the server's address on the sandbox network (Pebble's is the inventory's).
SERVER_HOST_BYTE = 20

log = logger("sandbox")


@dataclass(frozen=True)
class Site:
    """What the sandbox inventory serves: its first domain, under its path prefix."""

    domain: str
    prefix: str

    def path(self, path: str = "/") -> str:
        return f"{self.prefix}{path}"

    def url(self, path: str = "/", port: int | None = None) -> str:
        where = f"{self.domain}:{port}" if port else self.domain
        return f"https://{where}{self.path(path)}"


@functools.cache
def site() -> Site:
    variables = inventory_vars()
    return Site(variables["proxy_domains"][0], variables.get("proxy_path_prefix", ""))


@dataclass(frozen=True)
class Sandbox:
    """Names and addresses of one sandbox; `Sandbox.from_inventory()` is inventory/sandbox's."""

    network: str
    subnet: str
    pebble: str
    pebble_address: str
    server: str
    server_address: str
    # Ports on 127.0.0.1 for the server's 443 and 80; 0 publishes nothing.
    https_port: int = int(os.environ.get("SANDBOX_HTTPS_PORT", "8443"))
    http_port: int = int(os.environ.get("SANDBOX_HTTP_PORT", "8080"))

    @classmethod
    def named(cls, name: str, pebble_address: str, **ports: int) -> Sandbox:
        """A sandbox called `name` (its server `name`-server) on the /24 of Pebble's address."""
        subnet = ipaddress.ip_network(f"{pebble_address}/24", strict=False)
        return cls(
            network=name, subnet=str(subnet), pebble=f"{name}-pebble",
            pebble_address=pebble_address, server=f"{name}-server",
            server_address=str(subnet[SERVER_HOST_BYTE]), **ports,
        )  # fmt: skip

    @classmethod
    @functools.cache
    def from_inventory(cls) -> Sandbox:
        """The sandbox that inventory/sandbox describes: its host, Pebble's address."""
        name = inventory_host().removesuffix("-server")
        return cls.named(name, inventory_vars()["sandbox_pebble_address"])


def create_network(sandbox: Sandbox) -> None:
    if not docker_exists("network", sandbox.network):
        docker("network", "create", "--subnet", sandbox.subnet, sandbox.network)


def start_pebble(sandbox: Sandbox) -> None:
    if docker_exists("container", sandbox.pebble):
        return
    log("starting Pebble")
    docker(
        "run", "-d", "--name", sandbox.pebble, "--network", sandbox.network,
        "--ip", sandbox.pebble_address, "--network-alias", "pebble", PEBBLE_IMAGE,
    )  # fmt: skip


def server_container_options(scenario: str = "default") -> list[str]:
    """`docker run` options for the server container, from the scenarios' server platform (the
    scenario's image)."""
    platform = server_platform(scenario)
    options = [f"--cgroupns={platform['cgroupns_mode']}"]
    options += [arg for cap in platform["capabilities"] for arg in ("--cap-add", cap)]
    options += [arg for opt in platform["security_opts"] for arg in ("--security-opt", opt)]
    options += [arg for path in platform["tmpfs"] for arg in ("--tmpfs", path)]
    options += [arg for volume in platform["volumes"] for arg in ("-v", volume)]
    return [*options, "--stop-signal", platform["stop_signal"], platform["image"]]


def start_server(sandbox: Sandbox) -> None:
    if docker_exists("container", sandbox.server):
        return
    log("starting the server container")
    published = [
        arg
        for host_port, port in ((sandbox.https_port, 443), (sandbox.http_port, 80))
        if host_port
        for arg in ("-p", f"127.0.0.1:{host_port}:{port}")
    ]
    docker(
        "run", "-d", "--name", sandbox.server, "--hostname", sandbox.server,
        "--network", sandbox.network, "--ip", sandbox.server_address,
        "--network-alias", site().domain, *published, *server_container_options(),
    )  # fmt: skip


def wait_for_systemd(sandbox: Sandbox, timeout: float = 60) -> None:
    def booted() -> bool:
        state = run("docker", "exec", sandbox.server, "systemctl", "is-system-running", check=False)
        return state.stdout.strip() in {"running", "degraded"}

    try:
        wait_until(booted, timeout, interval=1)
    except AssertionError:
        raise SystemExit(
            f"sandbox: systemd in {sandbox.server} did not finish booting in {timeout} s"
        ) from None


def provision(extra_args: list[str]) -> None:
    log(f"ansible-playbook -i inventory/sandbox {SITE_PLAYBOOK}")
    run_playbook(SITE_PLAYBOOK, *extra_args, capture=False, check=True, timeout=None)


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


def served_serial(sandbox: Sandbox) -> str:
    """Serial of the certificate the site serves now (verified), or '' when the handshake fails."""
    context = ssl.create_default_context(cafile=str(PEBBLE_ROOT))
    try:
        with (
            socket.create_connection(("127.0.0.1", sandbox.https_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=site().domain) as tls,
        ):
            return str((tls.getpeercert() or {}).get("serialNumber", ""))
    except OSError:
        return ""


def save_pebble_root(sandbox: Sandbox) -> None:
    """Pebble makes a new root at every start: fetch the one that signs the site now."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    root = https_get(sandbox.pebble_address, 15000, "pebble", "/roots/0", PEBBLE_HTTPS_CA)
    PEBBLE_ROOT.write_text(root)


def check_site(sandbox: Sandbox) -> str:
    return https_get("127.0.0.1", sandbox.https_port, site().domain, site().path(), PEBBLE_ROOT)


def served(sandbox: Sandbox) -> bool:
    """A verified HTTPS 200 through the proxy, from this host over the sandbox's published port."""
    try:
        check_site(sandbox)
    except (OSError, RuntimeError, ValueError, IndexError):
        return False
    return True


def up(sandbox: Sandbox, extra_args: list[str]) -> None:
    create_network(sandbox)
    start_pebble(sandbox)
    start_server(sandbox)
    wait_for_systemd(sandbox)
    provision(extra_args)
    save_pebble_root(sandbox)
    body = check_site(sandbox)
    domain, port = site().domain, sandbox.https_port
    url = site().url(port=port)
    cacert = PEBBLE_ROOT.relative_to(REPO_DIR)
    print(
        f"\nThe demo app is served at {url} with a certificate from Pebble.\n"
        f"Verified answer: {body}\n\nTry it:\n"
        f"  curl --resolve {domain}:{port}:127.0.0.1 --cacert {cacert} {url}\n"
        f"  curl --resolve {domain}:{port}:127.0.0.1 --cacert {cacert} {url}docs\n"
    )


def down(sandbox: Sandbox) -> None:
    # The bench's registry (bench/registry.py) and off-site stores (bench/offsite.py) too, if a
    # run stopped before removing them.
    bench = [f"{sandbox.network}-{name}" for name in ("registry", "s3", "backup-host")]
    for container in (sandbox.server, sandbox.pebble, *bench):
        if docker_exists("container", container):
            log(f"removing {container}")
            docker("rm", "-f", "-v", container)
    if docker_exists("network", sandbox.network):
        docker("network", "rm", sandbox.network)
    PEBBLE_ROOT.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "check"])
    parser.add_argument("ansible_args", nargs="*", help="extra ansible-playbook arguments for up")
    args = parser.parse_args()
    sandbox = Sandbox.from_inventory()
    if args.action == "up":
        up(sandbox, args.ansible_args)
    elif args.action == "check":
        print(check_site(sandbox))
    else:
        down(sandbox)


if __name__ == "__main__":
    main()
