"""The proxy's configuration for several apps, rendered by Ansible's own templating from the
role's templates and variables: each app's route on its domains and prefix including its own
upstream file, certificates for every domain, and one app alone on its domains rendered as
before several apps existed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

REPO_DIR = Path(__file__).resolve().parents[2]
ROLE = REPO_DIR / "roles" / "proxy"


@pytest.fixture(scope="module", autouse=True)
def collections_found() -> None:
    """Templates and vars call the collection's filters by their full names, as in a run: the
    collection loader takes over `ansible_collections`, which other tests import as a plain
    package (pytest's pythonpath)."""
    for name in [name for name in sys.modules if name.startswith("ansible_collections")]:
        del sys.modules[name]
    _AnsibleCollectionFinder(paths=[str(REPO_DIR / "collections")])._install()


def role_variables(**overrides: Any) -> dict[str, Any]:  # noqa: ANN401 - any variable
    """The proxy role's defaults and vars, as the role sees them, with the inventory's values."""
    variables: dict[str, Any] = {}
    for path in (ROLE / "defaults" / "main.yml", ROLE / "vars" / "main.yml"):
        variables.update(yaml.safe_load(path.read_text()))
    variables.update(
        {
            "proxy_acme_email": "admin@example.test",
            "proxy_acme_ca": "https://pebble:14000/dir",
            "ansible_managed": "managed by Ansible",
            "proxy_maintenance_active": False,
            **overrides,
        }
    )
    return {
        name: trust_as_template(value) if isinstance(value, str) else value
        for name, value in variables.items()
    }


def render(template: str, **overrides: Any) -> str:  # noqa: ANN401 - any variable
    templar = Templar(loader=DataLoader(), variables=role_variables(**overrides))
    source = (ROLE / "templates" / template).read_text()
    # As the template module renders a file.
    return str(templar.template(trust_as_template(source), escape_backslashes=False))


def app(name: str, domains: list[str], prefix: str = "", legacy: bool = False) -> dict[str, Any]:
    return {"name": name, "state": "present", "legacy": legacy, "domains": domains,
            "path_prefix": prefix, "check_path": ""}  # fmt: skip


TWO_APPS = [
    app("app", ["app.example.test"], "/api/v1", legacy=True),
    app("notes", ["notes.example.test"]),
]


def test_one_app_is_one_site_with_its_prefix_and_its_upstream_file() -> None:
    caddyfile = render(
        "Caddyfile.j2", proxy_domains=["app.example.test"], proxy_path_prefix="/api/v1"
    )
    assert "app.example.test {" in caddyfile
    assert "redir /api/v1 /api/v1/ 308" in caddyfile
    assert "handle_path /api/v1/* {\n\t\timport /etc/caddy/upstreams/app.caddy\n\t}" in caddyfile
    assert "respond 404" in caddyfile
    assert "default_sni app.example.test" in caddyfile


def test_each_app_has_its_site_its_route_and_its_own_upstream_file_in_caddy() -> None:
    caddyfile = render("Caddyfile.j2", proxy_apps=TWO_APPS)
    app_site = caddyfile[
        caddyfile.index("app.example.test {") : caddyfile.index("notes.example.test {")
    ]
    notes_site = caddyfile[caddyfile.index("notes.example.test {") : caddyfile.index("https:// {")]
    assert "import /etc/caddy/upstreams/app.caddy" in app_site
    assert "upstreams/notes.caddy" not in app_site
    assert "\timport /etc/caddy/upstreams/notes.caddy\n}" in notes_site
    assert "respond 404" not in notes_site  # the app at the root answers everything
    # Both names redirect to HTTPS (and get certificates: Caddy manages every site's name).
    assert "@site host app.example.test notes.example.test" in caddyfile


def test_apps_sharing_a_domain_route_by_prefix_in_one_caddy_site() -> None:
    apps = [app("site", ["example.com"]), app("api", ["example.com"], "/api")]
    caddyfile = render("Caddyfile.j2", proxy_apps=apps)
    assert caddyfile.count("example.com {") == 1
    api = caddyfile.index("handle_path /api/* {\n\t\timport /etc/caddy/upstreams/api.caddy")
    root = caddyfile.index("handle {\n\t\timport /etc/caddy/upstreams/site.caddy")
    assert api < root


def test_caddy_maintenance_is_its_state_file_looked_for_at_each_request() -> None:
    caddyfile = render("Caddyfile.j2", proxy_apps=TWO_APPS)
    assert "root /etc/caddy-state" in caddyfile
    assert "try_files /maintenance" in caddyfile
    # Each app's check path stays open to the operators.
    assert "path /api/v1/health" in caddyfile
    assert caddyfile.count("status 503") == 2  # one maintenance page per site
    # Turning maintenance on or off changes no configuration: no reload.
    assert render("Caddyfile.j2", proxy_apps=TWO_APPS, proxy_maintenance_active=True) == caddyfile


def test_a_caddy_upstream_file_forwards_to_the_switched_host_and_drops_forged_headers() -> None:
    snippet = render(
        "upstream.caddy.j2", proxy_route_item=TWO_APPS[1], proxy_route_upstream="notes-1-ab:8000"
    )
    # The host is read at each request from the file a switch rewrites: no reload.
    assert "reverse_proxy {file./etc/caddy/upstreams/notes.host}:8000 {" in snippet
    assert "header_up -Forwarded" in snippet


def test_a_caddy_host_file_names_the_upstream_host_alone() -> None:
    assert render("upstream-host.j2", proxy_route_upstream="notes-1-ab:8000") == "notes-1-ab\n"


def traefik_routes(**overrides: Any) -> dict[str, Any]:  # noqa: ANN401 - any variable
    return yaml.safe_load(render("dynamic.yml.j2", **overrides))


def test_each_app_has_its_routers_service_and_certificate_in_traefik() -> None:
    routes = traefik_routes(proxy_apps=TWO_APPS)
    routers = routes["http"]["routers"]
    assert routers["app-1"]["rule"] == (
        "Host(`app.example.test`) && (Path(`/api/v1`) || PathPrefix(`/api/v1/`))"
    )
    assert routers["app-1"]["service"] == "app-app"
    assert "strip-app" in routers["app-1"]["middlewares"]
    assert routers["notes-1"]["rule"] == "Host(`notes.example.test`)"
    assert routers["notes-1"]["service"] == "app-notes"
    assert routers["notes-1"]["tls"]["domains"] == [{"main": "notes.example.test", "sans": []}]
    assert routers["to-https"]["rule"] == "(Host(`app.example.test`) || Host(`notes.example.test`))"
    middlewares = routes["http"]["middlewares"]
    assert middlewares["strip-app"] == {"stripPrefix": {"prefixes": ["/api/v1"]}}
    assert "strip-notes" not in middlewares
    # The services the routes forward to are in each app's own upstream file; here only the
    # new engine of an engine switch, to which the ACME challenges on port 80 go.
    assert set(routes["http"]["services"]) == {"new-engine"}
    assert routers["new-engine-challenge"] == {
        "entryPoints": ["web"],
        "rule": "(Host(`app.example.test`) || Host(`notes.example.test`))"
        " && PathPrefix(`/.well-known/acme-challenge/`)",
        "service": "new-engine",
    }


def test_one_app_keeps_its_certificate_request_in_traefik() -> None:
    routes = traefik_routes(proxy_domains=["a.example.test", "b.example.test"])
    routers = routes["http"]["routers"]
    for name in ("app-1", "app-2"):
        assert routers[name]["tls"]["domains"] == [
            {"main": "a.example.test", "sans": ["b.example.test"]}
        ]


@pytest.mark.parametrize("maintenance", [False, True])
def test_traefik_routes_are_valid_yaml_in_and_out_of_maintenance(maintenance: bool) -> None:
    routes = traefik_routes(proxy_apps=TWO_APPS, proxy_maintenance_active=maintenance)
    routers = routes["http"]["routers"]
    if maintenance:
        assert routers["app-1"]["service"] == "maintenance"
        assert "Path(`/api/v1/health`)" in routers["operator-app"]["rule"]
        assert routers["operator-notes"]["service"] == "app-notes"
    else:
        assert "operator-app" not in routers


def test_a_traefik_upstream_file_is_the_apps_service_alone() -> None:
    upstream = yaml.safe_load(
        render(
            "upstream-traefik.yml.j2", proxy_route_item=TWO_APPS[1], proxy_route_upstream="n:8000"
        )
    )
    assert upstream == {
        "http": {"services": {"app-notes": {"loadBalancer": {
            "serversTransport": "app", "servers": [{"url": "http://n:8000"}]}}}}
    }  # fmt: skip
