#!/usr/bin/env python3
"""Holds new TCP connections to the proxy's published ports while its container changes engine,
and lets them in the moment the new engine serves the site's certificates.

Held, a connection's first packet (SYN) is dropped, not refused, so that the client sends it again
(1 s, then 3 s and 7 s after the first) and is served once the hold ends, instead of meeting a
refused connection or the new engine's first half-second (Traefik's default certificate,
traefik/traefik#7869). Connections already open are not touched.

The script returns at once. A child of it watches the proxy's own address, which the hold does not
cover, and releases the hold as soon as every domain is given the certificate the new engine
obtained (its SHA-256), checking every 0.2 s: the hold lasts as long as the container's
replacement, not as long as the tasks of the run around it. Should the child die, the rules end
by themselves after their seconds (iptables' time match). The outcome ("released after 2.1 s" or
"expired ...") is written to the state file and to the journal.

    engine-switch-hold.py <state file> <seconds> <address> <port,...> <domain>=<sha256>...

iptables commands (iptables-nft on Debian 12 and 13), as the firewall role's: no module offers
the time and conntrack matches together. Standard library only: it runs on the server's Python.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shlex
import socket
import ssl
import subprocess
import sys
import syslog
import time
from pathlib import Path

COMMENT = "fastapi-deploy-engine-switch-hold"
TOOLS = ("iptables", "ip6tables")
POLL_SECONDS = 0.2


def iptables(tool: str, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, "-w", *arguments], capture_output=True, text=True, check=check)


def release() -> None:
    for tool in TOOLS:
        for chain in ("INPUT", "DOCKER-USER"):
            listing = iptables(tool, "-S", chain, check=False).stdout.splitlines()
            for rule in listing:
                if rule.startswith("-A ") and f"--comment {COMMENT}" in rule:
                    iptables(tool, "-D", *shlex.split(rule)[1:])


def hold(seconds: int, ports: list[str]) -> None:
    # The time match reads UTC.
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    expiry = ["-m", "time", "--datestop", until.strftime("%Y-%m-%dT%H:%M:%S")]
    tag = ["-m", "comment", "--comment", COMMENT, "-j", "DROP"]
    release()
    for tool in TOOLS:
        has_docker_user = iptables(tool, "-n", "-L", "DOCKER-USER", check=False).returncode == 0
        for port in ports:
            # Before Docker translates them (no container publishes the port for a moment), ...
            syn = ["-p", "tcp", "--syn", "--dport", port]
            iptables(tool, "-I", "INPUT", "1", "!", "-i", "lo", *syn, *expiry, *tag)
            # ... and after (the new container publishes it, but may not serve its certificates).
            if has_docker_user:
                dnat = ["-m", "conntrack", "--ctstate", "DNAT", "--ctorigdstport", port]
                iptables(tool, "-I", "DOCKER-USER", "1", "-p", "tcp", "--syn", *dnat, *expiry, *tag)


def served_sha256(address: str, domain: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, 443), timeout=1) as connection,
            context.wrap_socket(connection, server_hostname=domain) as tls,
        ):
            return hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()
    except OSError:
        return ""


def report(state: Path, outcome: str) -> None:
    state.write_text(outcome + "\n")
    syslog.openlog("fastapi-deploy-engine-switch")
    syslog.syslog(outcome)


def watch(state: Path, seconds: int, address: str, certificates: dict[str, str]) -> None:
    started = time.monotonic()
    waiting = dict(certificates)
    while time.monotonic() - started < seconds:
        waiting = {d: sha for d, sha in waiting.items() if served_sha256(address, d) != sha}
        if not waiting:
            release()
            report(state, f"released after {time.monotonic() - started:.1f} s")
            return
        time.sleep(POLL_SECONDS)
    release()
    report(state, f"expired after {seconds} s: {', '.join(waiting)} not served at {address}")


def detach() -> None:
    """The rest runs in the child, away from the run's session, which ends now."""
    if os.fork():
        sys.exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(devnull, descriptor)


def main(arguments: list[str]) -> None:
    state, seconds, address, ports, *pairs = arguments
    certificates = dict(pair.split("=", 1) for pair in pairs)
    Path(state).write_text("holding\n")
    hold(int(seconds), ports.split(","))
    print(f"holding new connections to ports {ports} for at most {seconds} s")
    sys.stdout.flush()
    detach()
    watch(Path(state), int(seconds), address, certificates)


if __name__ == "__main__":
    main(sys.argv[1:])
