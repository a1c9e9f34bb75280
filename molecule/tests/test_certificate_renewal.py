"""Certificates renew by themselves before they expire, and no request fails while they do.

The scenario's second Pebble (`pebble-short`) issues 90-second certificates. The proxy is
pointed at it with a renewal schedule to match (Caddy checks every 5 s and renews with a third
of the lifetime left; Traefik, told the certificates live under a day, checks every minute and
renews 20 minutes before expiry, i.e. at each check), then serves under a continuous load until
two renewed certificates have been served. The module ends on the scenario's own CA again.
Where the alerts are on (default), a certificate that short-lived is one near its expiry: the
checker fires one alert, and one "resolved" once the scenario's long-lived one is served again;
with the CA out of the proxy's reach a renewal fails: one alert (the checker reads the proxy's
log), and one "resolved" once the proxy got its certificate again.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import testinfra
from conftest import (
    ALERTS_CAFILE,
    CLIENT_PEBBLE_HTTPS_CA,
    Site,
    alerts_about,
    assert_every_client_served,
    load_through_proxy,
    run_alert_checks,
    run_playbook,
    served_serial,
)

from harness.common import APP_PLAYBOOK, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

SHORT_LIVED_ROOT = "/usr/local/share/pebble-short-root.pem"
BOTH_ROOTS = "/usr/local/share/pebble-both-roots.pem"
NEW_SERIALS_WANTED = 2
RENEWAL_WINDOW_SECONDS = 300


def short_lived_settings(inventory_vars: dict[str, Any]) -> dict[str, object]:
    return {
        "proxy_acme_ca": "https://pebble-short:14000/dir",
        "proxy_extra_hosts": {
            "pebble": inventory_vars["sandbox_pebble_address"],
            "pebble-short": inventory_vars["sandbox_pebble_short_address"],
        },
        "proxy_renew_interval": "5s",
        "proxy_certificates_duration_hours": 1,
    }


@pytest.fixture(scope="module")
def short_lived_root(client: testinfra.host.Host, pebble_root: str) -> str:
    client.check_output(
        f"curl -fsS --cacert {CLIENT_PEBBLE_HTTPS_CA} -o {SHORT_LIVED_ROOT} "
        "https://pebble-short:15000/roots/0"
    )
    client.check_output(f"cat {pebble_root} {SHORT_LIVED_ROOT} > {BOTH_ROOTS}")
    return SHORT_LIVED_ROOT


@pytest.fixture(scope="module")
def short_lived_site(
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    short_lived_root: str,
    inventory_vars: dict[str, Any],
) -> Iterator[str]:
    """The site served with a certificate from pebble-short; yields that first serial."""
    # The proxy alone changes (the CA and the renewal schedule): the apps' deploys stay out.
    result = run_playbook(APP_PLAYBOOK, short_lived_settings(inventory_vars), "--tags", "proxy")
    assert result.returncode == 0, result.stdout[-3000:]
    wait_until(lambda: served_serial(client, site, short_lived_root) != "", 120)
    yield served_serial(client, site, short_lived_root)
    if served_serial(client, site, pebble_root) == "":
        serve_the_scenario_ca(client, site, pebble_root)


def serve_the_scenario_ca(client: testinfra.host.Host, site: Site, pebble_root: str) -> None:
    result = run_playbook(APP_PLAYBOOK, {}, "--tags", "proxy")
    assert result.returncode == 0, result.stdout[-3000:]
    wait_until(lambda: served_serial(client, site, pebble_root) != "", 120)


@pytest.fixture(scope="module")
def renewals_under_load(
    client: testinfra.host.Host, site: Site, short_lived_root: str, short_lived_site: str
) -> dict[str, Any]:
    """Serves under load until NEW_SERIALS_WANTED renewed certificates were seen."""
    serials = [short_lived_site]
    started = time.monotonic()
    # New connections keep coming (every 20 requests), so renewed certificates are handshaken
    # and verified while they are swapped in.
    with load_through_proxy(
        site, BOTH_ROOTS, limit=RENEWAL_WINDOW_SECONDS + 60, max_per_connection=20
    ) as load:
        while (
            len(serials) <= NEW_SERIALS_WANTED
            and time.monotonic() - started < RENEWAL_WINDOW_SECONDS
        ):
            serial = served_serial(client, site, short_lived_root)
            if serial and serial != serials[-1]:
                serials.append(serial)
            time.sleep(2)
    seconds = time.monotonic() - started
    print(
        f"renewal under load, {len(serials) - 1} new serials in {seconds:.0f} s: {load.summary()}"
    )
    return {"serials": serials, "load": load}


def test_a_certificate_near_its_expiry_and_a_failed_renewal_each_fire_once_and_resolve_once(
    alerts_receiver: str,
    fresh_alerts: Callable[[], list[dict[str, Any]]],
    host: testinfra.host.Host,
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
    short_lived_root: str,
    inventory_vars: dict[str, Any],
    renewals_under_load: dict[str, Any],
) -> None:
    """Both through the module's short-lived certificates (one switch of CA there and one back,
    for both checks). First in the module, its receiver first: the checker (its timer stopped)
    has not seen them before. The renewals are measured first; this test then ends the
    short-lived certificates."""
    assert served_serial(client, site, short_lived_root), "pebble-short's certificate not served"
    expiry, renewal = f"certificate:{site.domain}", f"renewal:{site.domain}"
    # The checker trusts both CAs (the receiver's fixture puts the scenario's root back after).
    roots = client.check_output(f"cat {BOTH_ROOTS}")
    host.check_output(f"printf '%s\\n' {shlex.quote(roots)} > {ALERTS_CAFILE}")

    def fired(check: str) -> bool:
        run_alert_checks(host)
        return len(alerts_about(fresh_alerts(), "firing", check)) == 1

    def resolved(check: str) -> bool:
        run_alert_checks(host)
        return len(alerts_about(fresh_alerts(), "resolved", check)) == 1

    assert fired(expiry), fresh_alerts()
    firing = alerts_about(fresh_alerts(), "firing", expiry)
    assert f"the certificate of {site.domain} expires in 0.0 days" in firing[0]["summary"]
    # pebble-short refused to the proxy's container (its traffic crosses DOCKER-USER), its open
    # connection reset: the next renewal, with a third of the 90 s left, fails.
    address = client.check_output("getent hosts pebble-short").split()[0]
    block = f"DOCKER-USER -d {address} -p tcp -j REJECT --reject-with tcp-reset"
    host.check_output(f"iptables -I {block}")
    try:
        wait_until(lambda: fired(renewal), 150, interval=5)
    finally:
        host.check_output(f"iptables -D {block}")
    firing = alerts_about(fresh_alerts(), "firing", renewal)
    assert "the proxy could not get a certificate" in firing[0]["summary"], firing
    # The proxy would try again by itself a minute after the failure; restarted, it renews the
    # expiring certificate as it starts (no load runs here).
    host.check_output(f"docker restart {inventory_vars.get('proxy_container_name', 'proxy')}")
    wait_until(lambda: resolved(renewal), 150, interval=5)
    serve_the_scenario_ca(client, site, pebble_root)
    assert resolved(expiry), fresh_alerts()
    run_alert_checks(host)
    for check in (expiry, renewal):
        assert len(alerts_about(fresh_alerts(), "firing", check)) == 1, fresh_alerts()
        assert len(alerts_about(fresh_alerts(), "resolved", check)) == 1, fresh_alerts()


def test_certificate_renews_at_least_twice_within_the_window(
    renewals_under_load: dict[str, Any],
) -> None:
    serials = renewals_under_load["serials"]
    assert len(set(serials)) - 1 >= NEW_SERIALS_WANTED, serials


def test_no_request_fails_while_certificates_renew(renewals_under_load: dict[str, Any]) -> None:
    load = renewals_under_load["load"]
    assert_every_client_served(load)
