"""Before the proxy asks a CA for a certificate, the run checks the server is ready: a domain
that does not point at the server, or a web port that a firewall in front of the server drops,
stops it, naming what to fix, and nothing on the server changes."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from subprocess import CompletedProcess

import pytest
import testinfra
from conftest import Site, run_playbook, scenario_name

from harness.common import SITE_PLAYBOOK

testinfra_hosts = ["ansible://fastapi_servers"]

ELSEWHERE_DOMAIN = "elsewhere.example.test"
# TEST-NET-1 (RFC 5737): an address that is certainly not the server's.
ELSEWHERE_ADDRESS = "192.0.2.1"
UNRESOLVED_DOMAIN = "unresolved.example.test"
PROXY_CONFIG_DIR = "/etc/fastapi-proxy"


@pytest.fixture(scope="module")
def domain_pointing_elsewhere(host: testinfra.host.Host) -> Iterator[str]:
    """A name the server resolves to another address (its hosts file stands in for DNS)."""
    entry = f"{ELSEWHERE_ADDRESS} {ELSEWHERE_DOMAIN}"
    host.check_output(f"echo '{entry}' >> /etc/hosts")
    yield ELSEWHERE_DOMAIN
    # /etc/hosts is a bind mount in a container: rewrite it in place rather than replace it.
    host.check_output(
        f"grep -v '{ELSEWHERE_DOMAIN}' /etc/hosts > /tmp/hosts && cat /tmp/hosts > /etc/hosts"
    )


def said(result: CompletedProcess[str]) -> str:
    """What the run printed: a failed task goes to stderr where Ansible is so configured
    (Molecule's display_failed_stderr)."""
    return result.stdout + result.stderr


def proxy_configuration(host: testinfra.host.Host) -> str:
    return host.check_output(f"find {PROXY_CONFIG_DIR} -type f -exec sha256sum {{}} + | sort")


@pytest.fixture(scope="module")
def run_with_bad_domains(
    host: testinfra.host.Host, domain_pointing_elsewhere: str
) -> Iterator[tuple[CompletedProcess[str], str, str]]:
    """site.yml with one domain that points elsewhere and one that does not resolve at all:
    the run, and the proxy's configuration before and after it."""
    before = proxy_configuration(host)
    result = run_playbook(
        SITE_PLAYBOOK,
        {"proxy_domains": ["app.example.test", domain_pointing_elsewhere, UNRESOLVED_DOMAIN]},
    )
    yield result, before, proxy_configuration(host)


def test_domain_pointing_elsewhere_stops_the_run(
    run_with_bad_domains: tuple[CompletedProcess[str], str, str],
) -> None:
    result, _, _ = run_with_bad_domains
    assert result.returncode != 0
    assert f"{ELSEWHERE_DOMAIN} resolves to {ELSEWHERE_ADDRESS}, not to this server" in said(result)


def test_domain_without_dns_is_named(
    run_with_bad_domains: tuple[CompletedProcess[str], str, str],
) -> None:
    assert f"{UNRESOLVED_DOMAIN} does not resolve" in said(run_with_bad_domains[0])


def test_nothing_changes_when_the_preflight_fails(
    run_with_bad_domains: tuple[CompletedProcess[str], str, str],
) -> None:
    result, before, after = run_with_bad_domains
    assert re.search(rf"fd-{scenario_name()}-server\s*: ok=\d+\s+changed=0\s", result.stdout)
    assert after == before


def source_address_towards(address: str) -> str:
    """This machine's address as the server sees the controller's connections (a UDP socket's
    connect picks the route and sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address, 9))
        return str(probe.getsockname()[0])


@pytest.fixture
def https_dropped_on_the_way(host: testinfra.host.Host, site: Site) -> Iterator[str]:
    """A firewall in front of the server that drops the controller's HTTPS packets, as a cloud
    security group without the rule does: the server's raw table drops them before its own
    firewall, Docker or the proxy see them. Yields the server's address."""
    controller = source_address_towards(site.server_address)
    rule = f"PREROUTING -s {controller} -p tcp --dport 443 -j DROP"
    host.check_output(f"iptables -w -t raw -I {rule}")
    try:
        yield site.server_address
    finally:
        host.check_output(f"iptables -w -t raw -D {rule}")


def test_web_port_dropped_before_the_server_stops_the_run_naming_it(
    host: testinfra.host.Host, https_dropped_on_the_way: str
) -> None:
    before = proxy_configuration(host)
    result = run_playbook(SITE_PLAYBOOK, {})
    assert result.returncode != 0
    assert f"{https_dropped_on_the_way} port 443 got no answer (timeout)" in said(result)
    assert "port 80 got no answer" not in said(result)
    assert "proxy_preflight_ports" in said(result)
    assert proxy_configuration(host) == before
