"""The proxy's routes to several apps: each app's upstream file, the sites that group domains,
the route a deploy moves."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import routes as filters

STATE_FILE = "/etc/fastapi-proxy/upstream"
CONFIG_DIR = "/etc/fastapi-proxy"


def routes(apps: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    defaults = {"domains": ["app.example.com"], "path_prefix": "", "state_file": STATE_FILE,
                "config_dir": CONFIG_DIR, "check_path": "/health"}  # fmt: skip
    return filters.routes(apps, **{**defaults, **kwargs})


def app(name: str, domains: list[str], prefix: str = "", **extra: Any) -> dict[str, Any]:  # noqa: ANN401
    return {"name": name, "state": "present", "legacy": False, "domains": domains,
            "path_prefix": prefix, "check_path": "", **extra}  # fmt: skip


def test_without_apps_the_one_site_of_proxy_domains_keeps_the_original_upstream_file() -> None:
    (route,) = routes([], domains=["a.example.com", "b.example.com"], path_prefix="/api/v1")
    assert route == {
        "name": "app", "state": "present", "domains": ["a.example.com", "b.example.com"],
        "path_prefix": "/api/v1", "check_path": "/health", "port": None,
        "upstream_state_file": STATE_FILE,
    }  # fmt: skip
    (site,) = filters.sites([route])
    assert site["domains"] == ["a.example.com", "b.example.com"]
    assert not site["has_root"]


def test_each_app_has_its_own_upstream_file_but_the_legacy_app_keeps_its_own() -> None:
    found = routes([app("app", ["a.example.com"], legacy=True), app("two", ["b.example.com"])])
    assert [r["upstream_state_file"] for r in found] == [
        STATE_FILE, "/etc/fastapi-proxy/upstreams/two",
    ]  # fmt: skip


def test_two_environments_are_two_sites() -> None:
    found = routes([app("staging", ["staging.example.com"]), app("production", ["example.com"])])
    assert [(s["domains"], [r["name"] for r in s["routes"]]) for s in filters.sites(found)] == [
        (["staging.example.com"], ["staging"]),
        (["example.com"], ["production"]),
    ]
    assert filters.all_domains(found) == ["staging.example.com", "example.com"]


def test_apps_sharing_a_domain_route_longest_prefix_first_and_the_root_last() -> None:
    found = routes(
        [app("site", ["example.com"]), app("api", ["example.com"], "/api"),
         app("v2", ["example.com"], "/api/v2")]
    )  # fmt: skip
    (site,) = filters.sites(found)
    assert [r["name"] for r in site["routes"]] == ["v2", "api", "site"]
    assert site["has_root"]


def test_domains_with_different_apps_are_separate_sites() -> None:
    found = routes(
        [app("site", ["example.com", "www.example.com"]), app("api", ["example.com"], "/api")]
    )
    assert [(s["domains"], [r["name"] for r in s["routes"]]) for s in filters.sites(found)] == [
        (["example.com"], ["api", "site"]),
        (["www.example.com"], ["site"]),
    ]


def test_absent_apps_get_no_site() -> None:
    found = routes([app("old", ["old.example.com"], state="absent"), app("new", ["example.com"])])
    assert [s["domains"] for s in filters.sites(found)] == [["example.com"]]
    assert filters.all_domains(found) == ["example.com"]


def test_a_deploy_moves_its_own_route_or_the_only_one() -> None:
    found = routes([app("one", ["a.example.com"]), app("two", ["b.example.com"])])
    assert filters.pick(found, "two")["name"] == "two"
    with pytest.raises(
        AnsibleFilterError, match="no route for the app 'three' \\(routes: one, two\\)"
    ):
        filters.pick(found, "three")
    # An inventory with one app, whatever its app_name: the proxy's one route.
    (single,) = routes([])
    assert filters.pick([single], "api") == single


CADDY_UPSTREAM = {
    "dir": "/etc/fastapi-proxy/caddy/upstreams", "prefix": "", "suffix": ".caddy",
    "path": "/etc/fastapi-proxy/caddy/upstreams/NAME.caddy",
    "target": "/etc/fastapi-proxy/caddy/upstreams/NAME.host",
}  # fmt: skip
TRAEFIK_UPSTREAM = {
    "dir": "/etc/fastapi-proxy/traefik/dynamic", "prefix": "upstream-", "suffix": ".yml",
    "path": "/etc/fastapi-proxy/traefik/dynamic/upstream-NAME.yml",
}  # fmt: skip


def declared_routes() -> list[dict[str, Any]]:
    apps = [
        {
            "name": "app",
            "state": "present",
            "legacy": True,
            "domains": ["a.test"],
            "path_prefix": "",
        },
        {"name": "gone", "state": "absent", "domains": ["g.test"], "path_prefix": ""},
        {"name": "two", "state": "present", "domains": ["t.test"], "path_prefix": ""},
    ]
    return filters.routes(
        apps, [], "", "/etc/fastapi-proxy/upstream", "/etc/fastapi-proxy", "/health"
    )


def test_leftovers_are_the_upstreams_of_apps_no_longer_routed_and_nothing_else() -> None:
    found = [
        "/etc/fastapi-proxy/upstreams/two",
        "/etc/fastapi-proxy/upstreams/forgotten",
        "/etc/fastapi-proxy/caddy/upstreams/app.caddy",
        "/etc/fastapi-proxy/caddy/upstreams/two.caddy",
        "/etc/fastapi-proxy/caddy/upstreams/gone.caddy",
        "/etc/fastapi-proxy/caddy/upstreams/two.host",
        "/etc/fastapi-proxy/caddy/upstreams/gone.host",
    ]
    assert filters.leftovers(
        found, declared_routes(), "/etc/fastapi-proxy/upstreams", CADDY_UPSTREAM
    ) == [
        "/etc/fastapi-proxy/caddy/upstreams/gone.caddy",
        "/etc/fastapi-proxy/caddy/upstreams/gone.host",
        "/etc/fastapi-proxy/upstreams/forgotten",
        "/etc/fastapi-proxy/upstreams/gone",
    ]


def test_leftovers_spare_the_files_beside_the_upstream_files() -> None:
    found = [
        "/etc/fastapi-proxy/traefik/dynamic/routes.yml",
        "/etc/fastapi-proxy/traefik/dynamic/upstream-app.yml",
        "/etc/fastapi-proxy/traefik/dynamic/upstream-old.yml",
    ]
    assert filters.leftovers(
        found, declared_routes(), "/etc/fastapi-proxy/upstreams", TRAEFIK_UPSTREAM
    ) == [
        "/etc/fastapi-proxy/traefik/dynamic/upstream-old.yml",
        "/etc/fastapi-proxy/upstreams/gone",
    ]
