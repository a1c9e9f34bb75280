"""The app sees what the client really sent through the proxy, and believes no one else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import testinfra
from conftest import Response

from harness.common import role_defaults

testinfra_hosts = ["ansible://fastapi_servers"]

SPOOFED_ADDRESS = "6.6.6.6"
SPOOFED_HEADERS = {
    "X-Forwarded-For": {"X-Forwarded-For": SPOOFED_ADDRESS},
    "X-Forwarded-Proto": {"X-Forwarded-Proto": "http"},
    "Forwarded": {"Forwarded": f"for={SPOOFED_ADDRESS};proto=http"},
}


def test_app_sees_https_through_the_proxy(https_get: Callable[..., Response]) -> None:
    assert https_get("/request-info").json()["scheme"] == "https"


def test_app_sees_the_real_client_address(
    https_get: Callable[..., Response], client_address: str
) -> None:
    assert https_get("/request-info").json()["client"] == client_address


def test_app_sees_the_requested_host(https_get: Callable[..., Response]) -> None:
    assert https_get("/request-info").json()["host"] == "app.example.test"


def test_app_sees_the_site_name_whatever_port_the_client_puts_in_host(
    https_get: Callable[..., Response],
) -> None:
    """A Host with an odd port would leak into the app's redirects and absolute URLs."""
    seen = https_get("/request-info", headers={"Host": "app.example.test:1"}).json()
    assert seen["host"] == "app.example.test"


@pytest.mark.parametrize("headers", SPOOFED_HEADERS.values(), ids=SPOOFED_HEADERS.keys())
def test_spoofed_forwarding_headers_are_not_believed(
    https_get: Callable[..., Response], client_address: str, headers: dict[str, str]
) -> None:
    seen = https_get("/request-info", headers=headers).json()
    assert (seen["client"], seen["scheme"]) == (client_address, "https")


def test_direct_request_with_spoofed_headers_is_not_believed(
    host: testinfra.host.Host, app_container: str, inventory_vars: dict[str, Any]
) -> None:
    """A neighbour on the proxy network, not the proxy, sends forged headers to the app."""
    image = host.check_output(f"docker inspect --format '{{{{.Config.Image}}}}' {app_container}")
    network = inventory_vars.get("proxy_network_name", role_defaults("proxy")["proxy_network_name"])
    probe = (
        "import urllib.request; r = urllib.request.Request("
        f"'http://{app_container}:8000/request-info', "
        f"headers={{'X-Forwarded-For': '{SPOOFED_ADDRESS}', 'X-Forwarded-Proto': 'https'}}); "
        "print(urllib.request.urlopen(r).read().decode())"
    )
    output = host.check_output(
        f'docker run --rm --network {network} --entrypoint python {image} -c "{probe}"'
    )
    seen = json.loads(output)
    assert seen["scheme"] == "http"
    assert seen["client"] != SPOOFED_ADDRESS
