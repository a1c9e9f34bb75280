"""One hostile client cannot take the site down: connections beyond the per-client cap are
refused, the proxy is not OOM-killed by clients that never read, other clients are served
throughout, and the proxy's memory comes back down afterwards. Requests for names the server
does not serve are refused, and a client's malformed request is the client's error, logged
without its secrets."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import testinfra
from conftest import Response, Site, parse_curl, scenario_name

from harness.common import REPO_DIR, role_defaults

testinfra_hosts = ["ansible://fastapi_servers"]

SLOW_READERS = REPO_DIR / "harness" / "slowreaders.py"
CLIENT_SLOW_READERS = "/usr/local/bin/slowreaders.py"
# The largest file the app serves (Swagger UI's bundle, about 1.5 MB), asked for 20 times on
# each connection: what the attack that once OOM-killed the proxy did.
LARGE_FILE = "/static/swagger-ui-bundle.js"
REQUESTS_PER_CONNECTION = 20
# Connections attempted beyond the cap: the cap must turn each of them away.
CONNECTIONS_OVER_THE_CAP = 50
HOLD_SECONDS = 20
POLL_INTERVAL_SECONDS = 0.5
# After the attack the proxy's memory must come back to within this much of where it started,
# within this time (the Go runtime returns freed memory to the system gradually).
MEMORY_RECOVERY_MIB = 32
# Go (Traefik) collects an idle heap only every 2 minutes (its forced collection), and only then
# returns its memory, in the background: two of those periods and a half minute. A run measured
# 52.0 MiB still used 150 s after a 54.3 MiB peak (19.4 MiB before the attack).
MEMORY_RECOVERY_SECONDS = 270
# At the height of the attack the proxy stays this far below its memory limit.
PEAK_MEMORY_SHARE_OF_LIMIT = 0.5


@dataclass
class Attack:
    """What was seen while one client held slow-reading connections."""

    cap: int
    report: dict[str, Any] = field(default_factory=dict)
    polls: list[int] = field(default_factory=list)
    memory_before_mib: float = 0.0
    memory_peak_mib: float = 0.0
    # How many times the peak was sampled: none would leave a peak of 0, which passes any limit.
    memory_samples: int = 0
    memory_limit_mib: float = 0.0
    proxy_started_before: str = ""
    proxy_started_after: str = ""
    proxy_events: list[str] = field(default_factory=list)


MEMORY_UNITS_MIB = {"B": 1 / 1024**2, "KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}


def mebibytes(size: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMG]?i?B)", size.strip()).groups()
    return float(number) * MEMORY_UNITS_MIB[unit]


def proxy_memory(host: testinfra.host.Host) -> tuple[float, float]:
    """The proxy container's memory use and limit, in MiB."""
    usage = host.check_output("docker stats --no-stream --format '{{.MemUsage}}' proxy")
    used, limit = usage.split("/")
    return mebibytes(used), mebibytes(limit)


def proxy_started_at(host: testinfra.host.Host) -> str:
    return host.check_output("docker inspect --format '{{.State.StartedAt}}' proxy")


def poll_from_another_client(
    site: Site, ca_pem: str, stop: threading.Event, statuses: list[int]
) -> None:
    """GETs the health check from this machine (another address than the attacker's)."""
    context = ssl.create_default_context(cadata=ca_pem)
    while not stop.is_set():
        connection = http.client.HTTPSConnection(
            site.server_address, 443, timeout=5, context=context
        )
        try:
            # The certificate names the domain; connect by address and send it as SNI and Host.
            connection.sock = context.wrap_socket(
                socket.create_connection((site.server_address, 443), timeout=5),
                server_hostname=site.domain,
            )
            connection.request("GET", f"{site.prefix}/health", headers={"Host": site.domain})
            statuses.append(connection.getresponse().status)
        except (OSError, http.client.HTTPException):
            statuses.append(0)
        finally:
            connection.close()
        stop.wait(POLL_INTERVAL_SECONDS)


def run_slow_readers(site: Site, pebble_root: str, connections: int) -> dict[str, Any]:
    container = f"fd-{scenario_name()}-client"
    subprocess.run(
        ["docker", "cp", str(SLOW_READERS), f"{container}:{CLIENT_SLOW_READERS}"], check=True
    )
    command = [
        "docker", "exec", container, "python3", CLIENT_SLOW_READERS,
        "--address", site.server_address, "--server-name", site.domain,
        "--path", f"{site.prefix}{LARGE_FILE}", "--cafile", pebble_root,
        "--connections", str(connections), "--requests", str(REQUESTS_PER_CONNECTION),
        "--hold", str(HOLD_SECONDS),
    ]  # fmt: skip
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=HOLD_SECONDS + 120
    )
    return json.loads(output.stdout)


@pytest.fixture(scope="module")
def attack(
    host: testinfra.host.Host,
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    inventory_vars: dict[str, Any],
) -> Iterator[Attack]:
    cap = int(
        inventory_vars.get(
            "firewall_connections_per_client",
            role_defaults("firewall")["firewall_connections_per_client"],
        )
    )
    seen = Attack(cap=cap)
    seen.memory_before_mib, seen.memory_limit_mib = proxy_memory(host)
    seen.proxy_started_before = proxy_started_at(host)
    since = host.check_output("date +%s")
    stop = threading.Event()
    poller = threading.Thread(
        target=poll_from_another_client,
        args=(site, client.check_output(f"cat {pebble_root}"), stop, seen.polls),
    )
    peak_watch = threading.Thread(target=watch_peak_memory, args=(host, seen, stop))
    poller.start()
    peak_watch.start()
    try:
        seen.report = run_slow_readers(site, pebble_root, cap + CONNECTIONS_OVER_THE_CAP)
    finally:
        stop.set()
        poller.join()
        peak_watch.join()
    seen.proxy_started_after = proxy_started_at(host)
    until = host.check_output("date +%s")
    seen.proxy_events = host.check_output(
        f"docker events --since {since} --until {until} --filter container=proxy "
        "--filter event=oom --filter event=die --format '{{.Action}}'"
    ).split()
    yield seen


def watch_peak_memory(host: testinfra.host.Host, seen: Attack, stop: threading.Event) -> None:
    while not stop.is_set():
        seen.memory_peak_mib = max(seen.memory_peak_mib, proxy_memory(host)[0])
        seen.memory_samples += 1


def test_connections_over_the_per_client_cap_are_refused(attack: Attack) -> None:
    assert attack.report["accepted"] <= attack.cap, attack.report
    assert attack.report["refused"] >= CONNECTIONS_OVER_THE_CAP, attack.report


def test_connections_up_to_the_cap_are_accepted(attack: Attack) -> None:
    """The cap refuses only the excess: a busy client below it is not cut off."""
    assert attack.report["accepted"] >= attack.cap * 0.9, attack.report


def test_slow_readers_do_not_get_the_proxy_killed(attack: Attack) -> None:
    assert attack.proxy_events == []
    assert attack.proxy_started_after == attack.proxy_started_before


def test_proxy_memory_stays_well_below_its_limit_during_the_attack(attack: Attack) -> None:
    assert attack.memory_samples > 0, "the proxy's memory was never sampled during the attack"
    assert attack.memory_peak_mib < attack.memory_limit_mib * PEAK_MEMORY_SHARE_OF_LIMIT, (
        f"peak {attack.memory_peak_mib:.1f} MiB of {attack.memory_limit_mib:.0f} MiB"
    )


def test_other_clients_are_served_during_the_attack(attack: Attack) -> None:
    assert len(attack.polls) >= HOLD_SECONDS / POLL_INTERVAL_SECONDS / 2, attack.polls
    assert set(attack.polls) == {200}, attack.polls


def test_proxy_memory_returns_after_the_attack(host: testinfra.host.Host, attack: Attack) -> None:
    ceiling = attack.memory_before_mib + MEMORY_RECOVERY_MIB
    started = time.monotonic()
    used = proxy_memory(host)[0]
    samples = [(0, round(used))]
    while used > ceiling and time.monotonic() - started < MEMORY_RECOVERY_SECONDS:
        time.sleep(2)
        used = proxy_memory(host)[0]
        samples.append((round(time.monotonic() - started), round(used)))
    print(f"proxy memory {used:.1f} MiB {samples[-1][0]} s after the attack")
    assert used <= ceiling, (
        f"{used:.1f} MiB {MEMORY_RECOVERY_SECONDS} s after the attack; "
        f"{attack.memory_before_mib:.1f} MiB before, peak {attack.memory_peak_mib:.1f} MiB; "
        f"(seconds, MiB) every 10th sample: {samples[::10]}"
    )


UNKNOWN_HOST = "unknown.example.test"
# What a refusal looks like: the connection closed without an answer (curl's 000), or a client
# error that names no site (Traefik answers 404).
REFUSED = {"000", "404", "421"}


# What the site's own name gets on the same request: the proof that the proxy answers at all (a
# dead proxy would also give curl's 000).
SERVED = {"https": {"200"}, "http": {"301", "308"}}


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_unknown_host_is_refused(
    client: testinfra.host.Host, site: Site, pebble_root: str, scheme: str
) -> None:
    def status_for(host_header: str) -> str:
        return client.run(
            f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 --cacert {pebble_root} "
            f"-H 'Host: {host_header}' '{site.url('/health', scheme=scheme)}'"
        ).stdout

    assert status_for(site.domain) in SERVED[scheme]
    assert status_for(UNKNOWN_HOST) in REFUSED


def test_plain_http_redirects_the_site_without_naming_the_software(
    client: testinfra.host.Host, site: Site
) -> None:
    answer = parse_curl(
        client.check_output(f"curl -s -i --max-time 10 '{site.url('/health', scheme='http')}'")
    )
    assert (answer.status, answer.headers["location"]) in {
        (status, site.url("/health")) for status in (301, 308)
    }
    assert "server" not in answer.headers


def raw_https(client: testinfra.host.Host, site: Site, pebble_root: str, request: bytes) -> str:
    """Sends request bytes as they are over TLS; returns the answer's status line."""
    script = (
        "import socket, ssl, sys\n"
        f"context = ssl.create_default_context(cafile={pebble_root!r})\n"
        f"raw = socket.create_connection(({site.server_address!r}, 443), timeout=10)\n"
        f"tls = context.wrap_socket(raw, server_hostname={site.domain!r})\n"
        "tls.sendall(sys.stdin.buffer.read())\n"
        "answer = b''\n"
        "while chunk := tls.recv(65536):\n"
        "    answer += chunk\n"
        "print(answer.split(b'\\r\\n')[0].decode())\n"
    )
    encoded_script = base64.b64encode(script.encode()).decode()
    encoded_request = base64.b64encode(request).decode()
    return client.check_output(
        f'echo {encoded_request} | base64 -d | python3 -c "$(echo {encoded_script} | base64 -d)"'
    )


@dataclass(frozen=True)
class BrokenRequest:
    """What a request with a broken chunked body got, and what the proxy logged meanwhile."""

    status: int
    log: str
    secrets: list[str]


@pytest.fixture(scope="module")
def malformed_chunked_request(
    host: testinfra.host.Host, client: testinfra.host.Host, site: Site, pebble_root: str
) -> BrokenRequest:
    """A POST whose chunked body is broken, carrying a token in its query string and an API key
    header, to an endpoint that reads the body (one that answers before reading it, such as a
    405 for the method, would answer before the proxy meets the broken chunk)."""
    secrets = [uuid.uuid4().hex, uuid.uuid4().hex]
    since = host.check_output("date +%s")
    request = (
        f"POST {site.prefix}/uploads?token={secrets[0]} HTTP/1.1\r\nHost: {site.domain}\r\n"
        f"X-Api-Key: {secrets[1]}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "zz\r\nnot a chunk\r\n0\r\n\r\n"
    ).encode()
    status_line = raw_https(client, site, pebble_root, request)
    log = host.check_output(f"docker logs --since {since} proxy 2>&1")
    return BrokenRequest(int(status_line.split()[1]), log, secrets)


def test_malformed_chunked_body_is_a_client_error(
    malformed_chunked_request: BrokenRequest, proxy_engine: str
) -> None:
    if proxy_engine == "traefik":
        pytest.skip("Traefik answers a malformed chunked body with 500 (issue 19, still open)")
    assert malformed_chunked_request.status == 400


def test_proxy_logs_no_query_string_or_credential_header(
    host: testinfra.host.Host, malformed_chunked_request: BrokenRequest, proxy_engine: str
) -> None:
    # Neither engine keeps an access log, so a request leaves no line unless it fails inside the
    # proxy; then Caddy logs it with the query string replaced. The configuration the proxy runs
    # says so (an empty log alone would also pass on a proxy that logs nothing yet).
    if proxy_engine == "caddy":
        running = json.loads(
            host.check_output("docker exec proxy caddy adapt --config /etc/caddy/Caddyfile")
        )
        assert "?(query removed)" in json.dumps(running["logging"])
        assert '"logs"' not in json.dumps(running["apps"]["http"]["servers"])  # no access log
    else:
        assert "accessLog" not in host.file("/etc/fastapi-proxy/traefik/traefik.yml").content_string
    logged = [
        secret
        for secret in malformed_chunked_request.secrets
        if secret in malformed_chunked_request.log
    ]
    assert logged == []


def upload(client: testinfra.host.Host, site: Site, pebble_root: str, size: int) -> Response:
    return parse_curl(
        client.check_output(
            f"head -c {size} /dev/zero | curl -s -i --max-time 60 --cacert {pebble_root} "
            f"-H 'Content-Type: application/octet-stream' --data-binary @- "
            f"'{site.url('/uploads')}'"
        )
    )


@pytest.fixture(scope="module")
def body_limit_bytes(inventory_vars: dict[str, Any]) -> int:
    default = role_defaults("proxy")["proxy_max_request_body_mb"]
    return int(inventory_vars.get("proxy_max_request_body_mb", default)) * 1024 * 1024


def test_request_body_within_the_limit_reaches_the_app(
    client: testinfra.host.Host, site: Site, pebble_root: str, body_limit_bytes: int
) -> None:
    answer = upload(client, site, pebble_root, body_limit_bytes // 2)
    assert (answer.status, answer.json()) == (200, {"bytes": body_limit_bytes // 2})


def test_request_body_over_the_limit_is_refused(
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    body_limit_bytes: int,
    proxy_engine: str,
) -> None:
    if proxy_engine == "traefik":
        pytest.skip("Traefik has no request body limit yet: its only one buffers whole answers")
    assert upload(client, site, pebble_root, body_limit_bytes + 1).status == 413
