"""Several apps on one server: the inventory's fastapi_apps checked (each error naming the apps),
normalised, mapped onto each app's variables and paths, and the apps that go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import apps as filters

INHERITED = {
    "app_name": "app",
    "app_source_dir": "/src/app",
    "app_image": "",
    "app_state_file": "/var/lib/fastapi-app/releases.json",
    "app_config_dir": "/etc/fastapi-app",
    "app_image_name": "fastapi-app",
    "app_build_dir": "/opt/fastapi-app",
    "app_workers": 2,
    "app_root_path": "/api/v1",
}

TWO_ENVIRONMENTS = [
    {"name": "staging", "domains": ["staging.example.com"], "env": {"MODE": "staging"}},
    {"name": "production", "domains": ["example.com"], "workers": 4},
]


def problems_of(apps: Any, **kwargs: Any) -> list[str]:  # noqa: ANN401 - any inventory shape
    return filters.problems(apps, **kwargs)


def test_an_inventory_without_fastapi_apps_is_one_legacy_app_of_the_host_variables() -> None:
    assert problems_of(None) == []
    assert filters.normalise(None, "app", ["app.example.com"], "/api/v1") == [
        {"name": "app", "state": "present", "legacy": True, "domains": ["app.example.com"],
         "path_prefix": "/api/v1", "settings": {}},
    ]  # fmt: skip


def test_two_environments_of_one_service_are_fine() -> None:
    assert problems_of(TWO_ENVIRONMENTS) == []
    staging, production = filters.normalise(TWO_ENVIRONMENTS)
    assert staging["settings"] == {"app_env": {"MODE": "staging"}, "app_root_path": ""}
    assert production["settings"] == {"app_workers": 4, "app_root_path": ""}
    assert not staging["legacy"]
    assert not production["legacy"]


def test_two_apps_with_the_same_name_are_refused_naming_it() -> None:
    apps = [
        {"name": "api", "domains": ["a.example.com"]},
        {"name": "api", "domains": ["b.example.com"]},
    ]
    assert problems_of(apps) == ["fastapi_apps: two apps are named 'api'"]


def test_the_same_domain_and_prefix_claimed_twice_is_refused_naming_both_apps() -> None:
    apps = [
        {"name": "one", "domains": ["example.com"], "path_prefix": "/api"},
        {"name": "two", "domains": ["www.example.com", "example.com"], "path_prefix": "/api"},
    ]
    assert problems_of(apps) == [
        "fastapi_apps: apps 'one' and 'two' both claim example.com/api"
        " (each domain and path prefix routes to one app)"
    ]


def test_apps_that_leave_domains_and_prefix_out_claim_the_hosts_site_twice() -> None:
    found = problems_of([{"name": "one"}, {"name": "two"}], domains=["example.com"])
    assert found == [
        "fastapi_apps: apps 'one' and 'two' both claim example.com"
        " (each domain and path prefix routes to one app)"
    ]


def test_one_domain_split_by_prefixes_is_fine() -> None:
    apps = [
        {"name": "site", "domains": ["example.com"]},
        {"name": "api", "domains": ["example.com"], "path_prefix": "/api"},
    ]
    assert problems_of(apps) == []


def test_an_absent_app_claims_nothing() -> None:
    apps = [
        {"name": "old", "domains": ["example.com"], "state": "absent"},
        {"name": "new", "domains": ["example.com"]},
    ]
    assert problems_of(apps) == []


@pytest.mark.parametrize(
    "name", ["API", "my app", "api-", "-api", "a..b", "a/b", "a.-b", "x" * 41, "", 7]
)
def test_a_name_that_cannot_name_a_container_or_file_is_refused(name: object) -> None:
    found = problems_of([{"name": name, "domains": ["example.com"]}])
    assert len(found) == 1
    assert found[0].startswith("fastapi_apps: ")
    assert "name" in found[0]
    if isinstance(name, str):  # app_name's check (roles/app/tasks/validate.yml): the same rule
        assert "up to 40 lower-case letters and digits" in filters.name_problem(name)


@pytest.mark.parametrize("name", ["api", "api-v2", "shop_backend", "a1", "api.v2", "x" * 40])
def test_a_name_fit_for_containers_files_and_images_is_accepted(name: str) -> None:
    assert problems_of([{"name": name, "domains": ["example.com"]}]) == []
    assert filters.name_problem(name) == ""


def test_unknown_settings_state_domains_and_prefix_are_refused_naming_the_app() -> None:
    found = problems_of(
        [{"name": "api", "domains": [], "state": "gone", "path_prefix": "api/", "app_workers": 2}]
    )
    assert len(found) == 4
    assert all("app 'api'" in problem for problem in found)
    assert "unknown setting(s) app_workers" in found[0]


def test_fastapi_apps_must_be_a_non_empty_list() -> None:
    assert problems_of([]) == [
        "fastapi_apps: must be a non-empty list of apps (or not set, for one app)"
    ]
    assert problems_of({"name": "api"})[0].startswith("fastapi_apps: must be")
    assert problems_of(["api"]) == ["fastapi_apps: entry #1 must be a mapping with at least a name"]


def test_an_app_without_domains_anywhere_is_refused() -> None:
    assert problems_of([{"name": "api"}]) == [
        "fastapi_apps: app 'api' has no domains (set its domains, or proxy_domains for every app)"
    ]


def test_an_entry_inherits_the_hosts_domains_and_prefix() -> None:
    (app,) = filters.normalise([{"name": "app"}], "app", ["app.example.test"], "/api/v1")
    assert app["domains"] == ["app.example.test"]
    assert app["path_prefix"] == "/api/v1"
    assert app["settings"] == {"app_root_path": "/api/v1"}
    assert app["legacy"]


def test_the_legacy_app_keeps_the_original_paths() -> None:
    (app,) = filters.normalise([{"name": "app", "domains": ["a.example.com"]}])
    settings = filters.app_settings(app, INHERITED)
    for variable in filters.PER_APP_PATHS:
        assert settings[variable] == INHERITED[variable]
    assert settings["app_name"] == "app"


def test_another_app_gets_paths_named_after_it() -> None:
    (app,) = filters.normalise([{"name": "staging", "domains": ["s.example.com"]}])
    settings = filters.app_settings(app, INHERITED)
    assert settings["app_name"] == "staging"
    assert settings["app_state_file"] == "/var/lib/fastapi-app/staging/releases.json"
    assert settings["app_config_dir"] == "/etc/fastapi-app/staging"
    assert settings["app_image_name"] == "fastapi-app-staging"
    assert settings["app_build_dir"] == "/opt/fastapi-app/staging"


def test_an_entrys_settings_override_the_hosts_and_the_rest_is_inherited() -> None:
    (app,) = filters.normalise([{"name": "two", "domains": ["t.example.com"], "workers": 4}])
    settings = filters.app_settings(app, INHERITED)
    assert settings["app_workers"] == 4
    assert settings["app_source_dir"] == "/src/app"
    assert settings["app_root_path"] == ""  # its own prefix, not the host's


def test_another_app_inherits_no_secrets_database_or_migrations_of_the_host() -> None:
    inherited = {
        **INHERITED, "app_env": {"SECRET_KEY": "s3cret"}, "app_database_url": "postgresql://db",
        "app_extra_networks": ["postgres"], "app_prestart_command": ["alembic", "upgrade", "head"],
    }  # fmt: skip
    (legacy, other) = filters.normalise(
        [
            {"name": "app", "domains": ["a.example.com"]},
            {"name": "two", "domains": ["t.example.com"]},
        ]
    )
    assert filters.app_settings(legacy, inherited)["app_env"] == {"SECRET_KEY": "s3cret"}
    settings = filters.app_settings(other, inherited)
    assert settings["app_env"] == {}
    assert settings["app_database_url"] == ""
    assert settings["app_extra_networks"] == []
    assert settings["app_prestart_command"] == []


def test_an_entry_with_an_image_does_not_inherit_the_hosts_source() -> None:
    (app,) = filters.normalise(
        [{"name": "two", "domains": ["t.example.com"], "image": "registry/api:1"}]
    )
    settings = filters.app_settings(app, INHERITED)
    assert settings["app_image"] == "registry/api:1"
    assert settings["app_source_dir"] == ""


def test_pick_takes_the_named_app_or_the_only_one() -> None:
    apps = filters.normalise(TWO_ENVIRONMENTS)
    assert [a["name"] for a in filters.pick(apps, "staging")["apps"]] == ["staging"]
    assert filters.pick(apps, "")["problem"] == (
        "app: this inventory has several apps (staging, production): name one with -e app=<name>"
    )
    assert filters.pick(apps, "qa")["problem"] == (
        "app: no app named 'qa' in fastapi_apps (apps: staging, production)"
    )
    (single,) = filters.normalise(None, "app", ["a.example.com"])
    assert filters.pick([single], "") == {"apps": [single], "problem": ""}


def test_pick_ignores_absent_apps() -> None:
    apps = filters.normalise(
        [{"name": "old", "domains": ["o.example.com"], "state": "absent"},
         {"name": "new", "domains": ["n.example.com"]}]
    )  # fmt: skip
    assert [a["name"] for a in filters.pick(apps, "")["apps"]] == ["new"]
    assert filters.pick(apps, "old")["problem"].startswith("app: no app named 'old'")


def test_removals_are_the_absent_apps_and_those_no_longer_declared() -> None:
    apps = filters.normalise(
        [{"name": "staging", "domains": ["s.example.com"], "state": "absent"},
         {"name": "production", "domains": ["example.com"]}]
    )  # fmt: skip
    gone = filters.removals(apps, ["production", "app", "demo"], legacy_name="app")
    assert [(a["name"], a["legacy"]) for a in gone] == [
        ("app", True), ("demo", False), ("staging", False),
    ]  # fmt: skip


def test_nothing_is_removed_when_every_app_found_is_declared() -> None:
    apps = filters.normalise(TWO_ENVIRONMENTS)
    assert filters.removals(apps, ["staging", "production"]) == []


def test_the_proxy_gets_each_apps_route_check_path_and_own_port() -> None:
    apps = filters.normalise(
        [{"name": "one", "domains": ["a.example.com"], "healthcheck_path": "/healthz"},
         {"name": "two", "domains": ["b.example.com"], "path_prefix": "/v2", "port": 9000}]
    )  # fmt: skip
    assert filters.proxy_apps(apps, "/health") == [
        {"name": "one", "state": "present", "legacy": False, "domains": ["a.example.com"],
         "path_prefix": "", "check_path": "/healthz", "port": None},
        {"name": "two", "state": "present", "legacy": False, "domains": ["b.example.com"],
         "path_prefix": "/v2", "check_path": "/health", "port": 9000},
    ]  # fmt: skip


def test_the_apps_found_on_a_server_are_its_labelled_containers_and_release_histories() -> None:
    containers = [
        {"Names": ["/app-1-a"], "Labels": {"fastapi-deploy.app": "app"}},
        {"Names": ["/staging-1-b-prestart"], "Labels": {"fastapi-deploy.app": "staging"}},
        {"Names": ["/postgres"], "Labels": None},
    ]
    histories = [
        "/var/lib/fastapi-app/releases.json",  # the legacy app's: named by its containers
        "/var/lib/fastapi-app/demo/releases.json",
        "/var/lib/fastapi-app/demo/nested/releases.json",
    ]
    found = filters.found_on_server(containers, histories, "/var/lib/fastapi-app")
    assert found == ["app", "demo", "staging"]


def test_every_setting_an_entry_may_set_is_an_app_option_each_app_inherits() -> None:
    """plugins/filter/apps.py names the variables that make an app once: each is an option of
    the app role, and the role reads the host's values of exactly these (vars/main.yml)."""
    role = Path(__file__).resolve().parents[2] / "roles" / "app"
    options = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    options = options["argument_specs"]["main"]["options"]
    names = filters.setting_names()
    assert set(names) == (
        {f"app_{key}" for key in filters.SETTINGS} | set(filters.PER_APP_PATHS) | {"app_name"}
    )
    assert len(names) == len(set(names))
    assert set(names) <= set(options)
    derived = yaml.safe_load((role / "vars" / "main.yml").read_text())
    assert "fastapi_app_setting_names" in derived["app_setting_names"]
    assert "query('ansible.builtin.vars', *app_setting_names)" in derived["app_inherited_settings"]


def test_a_run_is_its_entry_and_every_setting_without_the_prefix() -> None:
    apps = filters.normalise(TWO_ENVIRONMENTS, "app", [], "")
    inherited = {name: "" for name in filters.setting_names()} | INHERITED | {"app_port": 8000}
    staging, production = filters.runs(apps, inherited)
    assert staging["name"] == "staging"
    assert staging["env"] == {"MODE": "staging"}
    assert staging["state_file"] == "/var/lib/fastapi-app/staging/releases.json"
    assert staging["port"] == 8000
    assert (staging["workers"], production["workers"]) == (2, 4)
    assert staging["domains"] == ["staging.example.com"]
    assert not staging["legacy"]
    assert "settings" not in staging
    assert {name[4:] for name in filters.setting_names()} <= set(staging)


def test_each_runs_variables_are_its_settings_and_the_run() -> None:
    apps = filters.normalise(TWO_ENVIRONMENTS, "app", [], "")
    inherited = {name: "" for name in filters.setting_names()} | INHERITED
    app_runs = filters.runs(apps, inherited)
    run_vars = filters.run_vars(app_runs)
    assert [variables["app_name"] for variables in run_vars] == ["staging", "production"]
    assert [variables["app_workers"] for variables in run_vars] == [2, 4]
    assert [variables["app_run"] for variables in run_vars] == app_runs
    assert {name for name in run_vars[0] if name != "app_run"} == set(filters.setting_names())


def test_a_setting_given_with_e_overrides_every_apps_own() -> None:
    """-e overrides all: the host's value of a setting given as an extra variable (which is the
    extra one) wins over an entry's own; the app's name and paths stay its own."""
    apps = filters.normalise(TWO_ENVIRONMENTS, "app", [], "")
    inherited = {name: "" for name in filters.setting_names()} | INHERITED | {"app_workers": 8}
    extra = ["app_workers", "app_state_file", "app_name", "app"]
    staging, production = filters.runs(apps, inherited, extra)
    assert (staging["workers"], production["workers"]) == (8, 8)
    assert staging["name"] == "staging"
    assert staging["state_file"] == "/var/lib/fastapi-app/staging/releases.json"
    assert filters.runs(apps, inherited)[1]["workers"] == 4
