"""Served under a path prefix that the proxy strips, the app and its docs still work."""

from __future__ import annotations

from collections.abc import Callable

import testinfra
from conftest import Response, Site

testinfra_hosts = ["ansible://fastapi_servers"]


def test_app_reports_the_root_path(https_get: Callable[..., Response], site: Site) -> None:
    assert https_get("/app").json()["root_path"] == site.prefix


def test_seed_endpoints_answer_under_the_prefix(https_get: Callable[..., Response]) -> None:
    assert https_get("/items/5?q=somequery").json() == {"item_id": 5, "q": "somequery"}


def test_docs_page_points_at_the_prefixed_openapi(
    https_get: Callable[..., Response], site: Site
) -> None:
    page = https_get("/docs")
    assert page.status == 200
    assert f"{site.prefix}/openapi.json" in page.body


def test_openapi_servers_name_the_prefix(https_get: Callable[..., Response], site: Site) -> None:
    assert https_get("/openapi.json").json()["servers"] == [{"url": site.prefix}]


def test_docs_assets_are_served_by_the_app(https_get: Callable[..., Response]) -> None:
    """No public CDN: a server without internet, or a strict CSP, still shows the docs."""
    page = https_get("/docs").body
    assert "cdn.jsdelivr.net" not in page
    assert "fastapi.tiangolo.com" not in page


def test_paths_outside_the_prefix_are_not_forwarded(
    client: testinfra.host.Host, site: Site, pebble_root: str
) -> None:
    status = client.check_output(
        f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert {pebble_root} "
        f"https://{site.domain}/app"
    )
    assert status == "404"
