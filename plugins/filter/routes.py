"""The proxy's routes to several apps: which upstream file each has, how the sites group the
domains, which route a deploy moves, decided in one tested place.

Each app has its own upstream (where its route forwards): a state file, and an engine file the
main configuration includes (Caddy: an imported snippet; Traefik: a watched file with its
service; Caddy's forwards to the host named in a file beside it). A deploy of one app rewrites
only that app's files; the main configuration (sites, domains, prefixes) changes only with the
inventory.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def routes(
    apps: list[dict[str, Any]],
    domains: list[str],
    path_prefix: str,
    state_file: str,
    config_dir: str,
    check_path: str,
) -> list[dict[str, Any]]:
    """Every route the proxy serves or removes: `proxy_apps`, or without it the one site of
    proxy_domains and proxy_path_prefix. The legacy app (the one of an inventory without
    several apps) keeps the original upstream state file."""
    declared = apps or [
        {"name": "app", "state": "present", "legacy": True, "domains": domains,
         "path_prefix": path_prefix},
    ]  # fmt: skip
    return [
        {
            "name": app["name"],
            "state": app.get("state", "present"),
            "domains": list(app["domains"]),
            "path_prefix": app.get("path_prefix") or "",
            "check_path": app.get("check_path") or check_path,
            # The app's own port where it sets one (a Swarm service's route forwards to it).
            "port": app.get("port"),
            "upstream_state_file": (
                state_file if app.get("legacy") else f"{config_dir}/upstreams/{app['name']}"
            ),
        }
        for app in declared
    ]


def present(all_routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [route for route in all_routes if route["state"] == "present"]


def all_domains(all_routes: list[dict[str, Any]]) -> list[str]:
    """Every domain served, each once, in the order the routes name them."""
    seen: dict[str, None] = {}
    for route in present(all_routes):
        seen.update(dict.fromkeys(route["domains"]))
    return list(seen)


def _by_prefix(route: dict[str, Any]) -> tuple[int, str]:
    # Longest prefix first; the app at the root (no prefix) last, as the fallback.
    return (-len(route["path_prefix"]), route["path_prefix"])


def sites(all_routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sites of the proxy's configuration: domains that route to the same apps share one
    site, and each site lists its routes longest prefix first. One app on its domains is one
    site, as before several apps existed."""
    grouped: dict[tuple[str, ...], list[str]] = {}
    for domain in all_domains(all_routes):
        serving = sorted((r for r in present(all_routes) if domain in r["domains"]), key=_by_prefix)
        grouped.setdefault(tuple(r["name"] for r in serving), []).append(domain)
    by_name = {route["name"]: route for route in present(all_routes)}
    return [
        {
            "domains": domains,
            "routes": [by_name[name] for name in names],
            "has_root": any(not by_name[name]["path_prefix"] for name in names),
        }
        for names, domains in grouped.items()
    ]


def pick(all_routes: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The route a deploy of the app `name` moves: the one of that name, or the only one (an
    inventory with one app, whatever its app_name). An app the proxy serves no route for is an
    error naming the routes there are: the run stops before any file changes."""
    served = present(all_routes)
    named = [route for route in served if route["name"] == name]
    if named:
        return named[0]
    if len(served) == 1:
        return served[0]
    names = ", ".join(route["name"] for route in served) or "none"
    raise AnsibleFilterError(
        f"proxy_route_app: the proxy has no route for the app '{name}' (routes: {names}). Run "
        "site.yml (or the proxy role with this inventory's apps) first."
    )


def leftovers(
    found: list[str],
    all_routes: list[dict[str, Any]],
    states_dir: str,
    upstream_file: dict[str, str],
) -> list[str]:
    """The upstream states, upstream files and their target files (Caddy's host files) on the
    server (`found`) that no route served any more uses: those of apps marked absent, and those
    of apps no longer declared at all. Other files beside them (Traefik's routes.yml) stay."""
    served = present(all_routes)
    patterns = [upstream_file["path"], upstream_file.get("target", "")]
    patterns = [pattern for pattern in patterns if pattern]
    kept = {route["upstream_state_file"] for route in served} | {
        pattern.replace("NAME", route["name"]) for route in served for pattern in patterns
    }
    absent = {r["upstream_state_file"] for r in all_routes if r["state"] != "present"}
    states = f"{states_dir.rstrip('/')}/"
    ours = {
        path
        for path in found
        if path.startswith(states) or any(_fits(path, pattern) for pattern in patterns)
    }
    return sorted((ours | absent) - kept)


def _fits(path: str, pattern: str) -> bool:
    """Whether path is pattern's file for some app (NAME standing for its name)."""
    before, _, after = pattern.partition("NAME")
    return path.startswith(before) and path.endswith(after) and len(path) > len(before + after)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "proxy_routes": routes,
            "proxy_present_routes": present,
            "proxy_all_domains": all_domains,
            "proxy_sites": sites,
            "proxy_route_pick": pick,
            "proxy_upstream_leftovers": leftovers,
        }
