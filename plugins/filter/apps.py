"""Several apps on one server: the inventory's `fastapi_apps`, checked, normalised and mapped
onto the app and proxy roles' variables, decided in one tested place.

An entry of `fastapi_apps` takes the app role's variables without their `app_` prefix, plus
`name`, `domains`, `path_prefix` and `state`. What an entry leaves out comes from the host's own
variables (`app_*`, `proxy_domains`, `proxy_path_prefix`), so settings shared by every app are
written once. Without `fastapi_apps` the inventory describes one app, as it always did.

The app whose name is the host's `app_name` (by default `app`: the single app of an inventory
without `fastapi_apps`) keeps the original paths, state file, image name and upstream file, so a
server deployed before several apps existed keeps its releases; every other app gets its own,
named after it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Any

# A name that is at once a valid container name prefix, file name, image repository component
# and proxy route name: lower-case letters and digits, single '-' or '_' between them.
# An app's name (app_name, or a fastapi_apps entry's): it names containers, files and images.
NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
NAME_MAX = 40
NAME_RULE = (
    f"up to {NAME_MAX} lower-case letters and digits, with single '.', '-' or '_' between them"
    " (it names containers, files and images)"
)
# The proxy's rule for a path prefix (roles/proxy/tasks/validate.yml).
PREFIX_PATTERN = re.compile(r"^/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$")
STATES = ("present", "absent")
# The label of every container of an app (release, pre-start and one-off run).
APP_LABEL = "fastapi-deploy.app"

# The app role's variables (without `app_`) an entry may set for its app alone.
SETTINGS = (
    "source_dir", "image", "registry_url", "registry_username", "registry_password",
    "registry_ca_file", "base_image", "base_image_archive", "build_ca_file", "port", "asgi_app",
    "uvicorn_extra_args", "workers", "root_path", "forwarded_allow_ips", "env", "database_url",
    "extra_networks", "memory_limit", "pids_limit", "restart_policy", "healthy_timeout",
    "healthcheck_path", "release_header", "keep_releases", "prestart_command", "prestart_timeout",
    "drain_seconds", "stop_timeout", "processes", "jobs", "replicas",
)  # fmt: skip
ENTRY_KEYS = ("name", "state", "domains", "path_prefix", *SETTINGS)
# The same as the app role names them.
SETTING_VARIABLES = frozenset(f"app_{key}" for key in SETTINGS)
# What an app never takes from the host's variables unless it is the legacy app (the host's own):
# another app's secrets, database, migrations, processes and jobs. An entry sets its own, or has
# none.
OWN_ONLY = {
    "app_env": {},
    "app_database_url": "",
    "app_extra_networks": [],
    "app_prestart_command": [],
    "app_processes": [],
    "app_jobs": [],
}
# The app role's paths that are per app; the legacy app keeps the host's (the role's defaults).
PER_APP_PATHS = ("app_state_file", "app_config_dir", "app_image_name", "app_build_dir")


def name_problem(name: str) -> str:
    """What is wrong with an app's name: "" for a good one, else the rule it breaks."""
    if len(name) <= NAME_MAX and NAME_PATTERN.match(name):
        return ""
    return f"'{name}' must be {NAME_RULE}"


def _label(entry: Any, index: int) -> str:  # noqa: ANN401 - the inventory's data, any shape
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"'{name}'" if isinstance(name, str) and name else f"#{index + 1}"


def _entry_problems(entry: Any, index: int) -> list[str]:  # noqa: ANN401 - any shape
    """What is wrong with one entry on its own."""
    label = _label(entry, index)
    if not isinstance(entry, dict):
        return [f"fastapi_apps: entry {label} must be a mapping with at least a name"]
    problems = []
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"fastapi_apps: entry {label} has no name")
    elif name_problem(name):
        problems.append(f"fastapi_apps: app {label}: the name must be {NAME_RULE}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        problems.append(
            f"fastapi_apps: app {label}: unknown setting(s) {', '.join(unknown)} (an entry takes"
            f" {', '.join(ENTRY_KEYS[:4])} and the app role's variables without 'app_':"
            f" {', '.join(SETTINGS)})"
        )
    if entry.get("state", "present") not in STATES:
        problems.append(f"fastapi_apps: app {label}: state must be present or absent")
    domains = entry.get("domains")
    if domains is not None and (
        not isinstance(domains, list)
        or not domains
        or not all(isinstance(d, str) and d for d in domains)
    ):
        problems.append(f"fastapi_apps: app {label}: domains must be a non-empty list of names")
    prefix = entry.get("path_prefix", "")
    if prefix and (not isinstance(prefix, str) or not PREFIX_PATTERN.match(prefix)):
        problems.append(
            f"fastapi_apps: app {label}: path_prefix '{prefix}' must be empty or start with '/'"
            " and not end with '/'"
        )
    return problems


def _claims(app: dict[str, Any]) -> Iterable[str]:
    prefix = app["path_prefix"]
    return (f"{domain}{prefix}" for domain in app["domains"])


def problems(
    apps: Any,  # noqa: ANN401 - the inventory's data, any shape
    legacy_name: str = "app",
    domains: list[str] | None = None,
    path_prefix: str = "",
) -> list[str]:
    """Every problem of `fastapi_apps`, each naming the apps concerned; empty when it is fine
    (or not set)."""
    if apps is None:
        return []
    if not isinstance(apps, list) or not apps:
        return ["fastapi_apps: must be a non-empty list of apps (or not set, for one app)"]
    found = [p for index, entry in enumerate(apps) for p in _entry_problems(entry, index)]
    if found:
        return found
    names = [entry["name"] for entry in apps]
    for name in sorted({n for n in names if names.count(n) > 1}):
        found.append(f"fastapi_apps: two apps are named '{name}'")
    claimed: dict[str, str] = {}
    for app in normalise(apps, legacy_name, domains, path_prefix):
        if not app["domains"]:
            found.append(
                f"fastapi_apps: app '{app['name']}' has no domains (set its domains, or"
                " proxy_domains for every app)"
            )
        if app["state"] != "present":
            continue
        for claim in _claims(app):
            other = claimed.setdefault(claim, app["name"])
            if other != app["name"]:
                found.append(
                    f"fastapi_apps: apps '{other}' and '{app['name']}' both claim {claim or '/'}"
                    f" (each domain and path prefix routes to one app)"
                )
    return found


def normalise(
    apps: list[dict[str, Any]] | None,
    legacy_name: str = "app",
    domains: list[str] | None = None,
    path_prefix: str = "",
) -> list[dict[str, Any]]:
    """The apps as the playbooks use them: name, state, whether it is the legacy app (original
    paths), domains, path prefix, and `settings`, the app role's variables the entry sets.
    Without `fastapi_apps`: the one app of the host's variables."""
    domains = list(domains or [])
    if apps is None:
        return [
            {"name": legacy_name, "state": "present", "legacy": True, "domains": domains,
             "path_prefix": path_prefix or "", "settings": {}},
        ]  # fmt: skip
    result = []
    for entry in apps:
        prefix = entry.get("path_prefix", path_prefix) or ""
        settings = {f"app_{key}": entry[key] for key in SETTINGS if key in entry}
        # The app learns the prefix the proxy strips before it (uvicorn --root-path).
        settings.setdefault("app_root_path", prefix)
        result.append(
            {
                "name": entry["name"],
                "state": entry.get("state", "present"),
                "legacy": entry["name"] == legacy_name,
                "domains": list(entry.get("domains") or domains),
                "path_prefix": prefix,
                "settings": settings,
            }
        )
    return result


def pick(apps: list[dict[str, Any]], wanted: str = "") -> dict[str, Any]:
    """The app a day-2 playbook acts on: the one named, or the only one. `problem` says why
    there is none."""
    present = [app for app in apps if app["state"] == "present"]
    names = ", ".join(app["name"] for app in present) or "none"
    if wanted:
        chosen = [app for app in present if app["name"] == wanted]
        problem = "" if chosen else f"app: no app named '{wanted}' in fastapi_apps (apps: {names})"
    elif len(present) == 1:
        chosen, problem = present, ""
    else:
        chosen = []
        problem = f"app: this inventory has several apps ({names}): name one with -e app=<name>"
    return {"apps": chosen, "problem": problem}


def app_settings(
    app: dict[str, Any], inherited: dict[str, Any], overriding: Iterable[str] = ()
) -> dict[str, Any]:
    """The app role's variables for one app: the host's (`inherited`), its own paths unless it
    is the legacy app, no secrets, database or migrations of the host's unless it is the legacy
    app, then what its entry sets; last the settings named in `overriding` (the run's extra
    variables: `-e` overrides every app's), at the host's value, which is the extra one."""
    name = app["name"]
    paths = {}
    if not app.get("legacy"):
        state_dir = posixpath.dirname(inherited["app_state_file"])
        paths = {
            "app_state_file": f"{state_dir}/{name}/releases.json",
            "app_config_dir": f"{inherited['app_config_dir']}/{name}",
            "app_image_name": f"{inherited['app_image_name']}-{name}",
            "app_build_dir": f"{inherited['app_build_dir']}/{name}",
        }
    own_only = {} if app.get("legacy") else OWN_ONLY
    settings = {**inherited, **paths, **own_only, **app.get("settings", {}), "app_name": name}
    # An entry that names an image builds nothing from the host's source, and the reverse.
    own = app.get("settings", {})
    if own.get("app_image") and "app_source_dir" not in own:
        settings["app_source_dir"] = ""
    if own.get("app_source_dir") and "app_image" not in own:
        settings["app_image"] = ""
    settings.update(
        {
            name: inherited[name]
            for name in overriding
            if name in SETTING_VARIABLES and name in inherited
        }
    )
    return settings


def setting_names(prefix: str = "app_") -> list[str]:
    """The app role's variables that make one app (its name, its per-app paths, the settings an
    entry may set), as the role names them: the host's values of these are what every app starts
    from (app_settings). The role reads them with `'app_' | fastapi_app_setting_names`."""
    return [f"{prefix}name", *(f"{prefix}{path[4:]}" for path in PER_APP_PATHS)] + [
        f"{prefix}{key}" for key in SETTINGS
    ]


def runs(
    apps: list[dict[str, Any]], inherited: dict[str, Any], overriding: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Each app as one run of the app role sees it, the one variable its tasks read (app_run):
    its entry (name, state, legacy, domains, path prefix, action) and every setting of its run
    (app_settings), named without `app_` as in a fastapi_apps entry (`port`, `state_file`)."""
    result = []
    for app in apps:
        settings = app_settings(app, inherited, overriding)
        own = {key: value for key, value in app.items() if key != "settings"}
        result.append({**own, **{name[4:]: value for name, value in settings.items()}})
    return result


def run_vars(app_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The app role's variables of each run (runs), as its argument spec and the rules of its
    tasks/validate.yml check them: each setting under its variable's name (`app_port`), and the
    run itself (app_run)."""
    return [
        {**{name: run[name[4:]] for name in setting_names() if name[4:] in run}, "app_run": run}
        for run in app_runs
    ]


def removals(
    apps: list[dict[str, Any]], found: Iterable[str], legacy_name: str = "app"
) -> list[dict[str, Any]]:
    """The apps whose containers, route and state go: those marked absent, and those found on
    the server (by their containers' label or their state directory) that the inventory no
    longer declares."""
    present = {app["name"] for app in apps if app["state"] == "present"}
    absent = {app["name"] for app in apps if app["state"] == "absent"}
    gone = sorted((absent | set(found)) - present)
    return [
        {"name": name, "state": "absent", "legacy": name == legacy_name, "settings": {}}
        for name in gone
        if NAME_PATTERN.match(name) or name == legacy_name
    ]


def found_on_server(
    containers: list[dict[str, Any]], histories: list[str], state_dir: str
) -> list[str]:
    """The apps a server holds: the names its containers are labelled with (the app role's
    `fastapi-deploy.app`), and those of the release histories below the state directory
    (<state_dir>/<name>/releases.json; the legacy app's is the state directory's own)."""
    labelled = {(c.get("Labels") or {}).get(APP_LABEL, "") for c in containers}
    with_history = {
        posixpath.basename(posixpath.dirname(path))
        for path in histories
        if posixpath.dirname(posixpath.dirname(path)) == state_dir.rstrip("/")
    }
    return sorted((labelled | with_history) - {""})


def proxy_apps(apps: list[dict[str, Any]], check_path: str = "") -> list[dict[str, Any]]:
    """What the proxy role needs of each app (proxy_apps): its route and the path the route
    check and maintenance use."""
    return [
        {
            "name": app["name"],
            "state": app["state"],
            "legacy": app.get("legacy", False),
            "domains": app["domains"],
            "path_prefix": app["path_prefix"],
            "check_path": app.get("settings", {}).get("app_healthcheck_path") or check_path,
            "port": app.get("settings", {}).get("app_port"),
        }
        for app in apps
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "fastapi_apps_problems": problems,
            "fastapi_app_name_problem": name_problem,
            "fastapi_apps": normalise,
            "fastapi_app_pick": pick,
            "fastapi_app_settings": app_settings,
            "fastapi_app_setting_names": setting_names,
            "fastapi_app_runs": runs,
            "fastapi_app_run_vars": run_vars,
            "fastapi_app_removals": removals,
            "fastapi_apps_found": found_on_server,
            "fastapi_proxy_apps": proxy_apps,
        }
