"""Before the proxy asks a CA for a certificate, the run checks the server is ready: a domain
that does not point at the server stops it, naming the domain and where it points, and nothing
on the server changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from subprocess import CompletedProcess

import pytest
import testinfra
from conftest import run_playbook, scenario_name

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
