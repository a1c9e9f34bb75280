"""Several apps behind one proxy (fastapi_apps in the scenario's host_vars): the demo app on its
domain and prefix, and a second small one (molecule/apps/hello) on a domain of its own. Each
answers on its own name with a valid certificate and its own root_path, believes no forged
forwarding header, and is left alone while the other is deployed and rolled back; removing one
from the inventory leaves the other serving.

To spend as few deploys as CI allows, one deploy and one rollback of the second app (a new
release of its image), both under load on the demo app, serve every assertion about them, and
the rollback returns the second app to the release it had. The removal runs last in the scenario
(the marker runs_last): it takes the second app away for good.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import testinfra
from conftest import (
    DEMO_APP,
    RELOAD_CLIENTS,
    Response,
    Site,
    assert_every_client_served,
    assert_no_request_failed,
    live_release,
    load_through_proxy,
    parse_curl,
    run_playbook,
    scenario_apps,
    scenario_name,
)

from harness.common import (
    APP_PLAYBOOK,
    DEPLOY_PLAYBOOK,
    LOGS_PLAYBOOK,
    ROLLBACK_PLAYBOOK,
    play_recap,
)

testinfra_hosts = ["ansible://fastapi_servers"]

SECOND = "hello"
SECOND_STATE = f"/var/lib/fastapi-app/{SECOND}/releases.json"
SECOND_UPSTREAM = f"/etc/fastapi-proxy/upstreams/{SECOND}"
DEMO_UPSTREAM = "/etc/fastapi-proxy/upstream"
SPOOFED_ADDRESS = "6.6.6.6"
SPOOFED = {"X-Forwarded-For": SPOOFED_ADDRESS, "Forwarded": f"for={SPOOFED_ADDRESS};proto=http",
           "X-Forwarded-Proto": "http"}  # fmt: skip


def second_app_entry() -> dict[str, Any]:
    (entry,) = [app for app in scenario_apps() if app["name"] == SECOND]
    return entry


@pytest.fixture(scope="module")
def second_site(site: Site) -> Site:
    """The second app's site: its own domain, at its root, on the same server."""
    entry = second_app_entry()
    return Site(
        domain=entry["domains"][0], prefix=entry.get("path_prefix", ""), workers=1,
        server_address=site.server_address,
    )  # fmt: skip


def get(
    client: testinfra.host.Host, cafile: str, site: Site, path: str, **headers: str
) -> Response:
    """GET over HTTPS from the outside client, the chain verified against Pebble's root."""
    header_args = " ".join(f"-H '{name}: {value}'" for name, value in headers.items())
    output = client.check_output(
        f"curl -sS -i --max-time 20 --cacert {cafile} {header_args} '{site.url(path)}'"
    )
    return parse_curl(output)


def started_at(host: testinfra.host.Host, container: str) -> str:
    return str(host.docker(container).inspect()["State"]["StartedAt"])


def second_history(host: testinfra.host.Host) -> dict[str, Any]:
    return dict(json.loads(host.file(SECOND_STATE).content_string))


# Where each engine's route of the demo app forwards: Caddy's upstream file and the host it reads
# at each request, Traefik's upstream file.
ENGINE_ROUTE_FILES = {
    "caddy": [f"caddy/upstreams/{DEMO_APP}.caddy", f"caddy/upstreams/{DEMO_APP}.host"],
    "traefik": [f"traefik/dynamic/upstream-{DEMO_APP}.yml"],
}


def demo_route_files(host: testinfra.host.Host, proxy_engine: str) -> tuple[str, ...]:
    """What routes the demo app: its upstream state and the engine's files of its route."""
    return (
        host.file(DEMO_UPSTREAM).content_string,
        *(
            host.file(f"/etc/fastapi-proxy/{path}").content_string
            for path in ENGINE_ROUTE_FILES[proxy_engine]
        ),
    )


@pytest.mark.parametrize(
    ("which", "root_path"), [(DEMO_APP, None), (SECOND, "")], ids=["demo app", "second app"]
)
def test_each_app_answers_on_its_own_site_with_a_valid_certificate_and_its_root_path(
    client: testinfra.host.Host, pebble_root: str, site: Site, second_site: Site,
    which: str, root_path: str | None,
) -> None:  # fmt: skip
    target = site if which == DEMO_APP else second_site
    answer = get(client, pebble_root, target, "/request-info")  # curl verifies the chain
    assert answer.status == 200
    seen = answer.json()
    assert seen["root_path"] == (site.prefix if root_path is None else root_path)
    assert seen["host"] == target.domain
    assert (seen.get("app") == SECOND) == (which == SECOND)


@pytest.mark.parametrize("which", [DEMO_APP, SECOND])
def test_neither_app_believes_forged_forwarding_headers(
    client: testinfra.host.Host, pebble_root: str, site: Site, second_site: Site,
    client_address: str, which: str,
) -> None:  # fmt: skip
    target = site if which == DEMO_APP else second_site
    seen = get(client, pebble_root, target, "/request-info", **SPOOFED).json()
    assert (seen["client"], seen["scheme"]) == (client_address, "https")


@pytest.fixture(scope="module")
def second_deployed_and_rolled_back_under_load_on_the_demo(
    host: testinfra.host.Host, site: Site, pebble_root: str, proxy_engine: str
) -> dict[str, Any]:
    """One deploy of the second app (a new release of the same image: the cheapest deploy that
    starts a new container and moves its route), then one rollback, while the client loads the
    demo app: what the demo app and its route were before and after, and what each run said."""
    second_before = second_history(host)
    demo = live_release(host)["live"]
    before = {"started": started_at(host, demo), "route": demo_route_files(host, proxy_engine)}
    with load_through_proxy(site, pebble_root) as load:
        deployed = run_playbook(DEPLOY_PLAYBOOK, {"app": SECOND, "app_release": "multi"})
        second_after_deploy = second_history(host)
        rolled_back = run_playbook(ROLLBACK_PLAYBOOK, {"app": SECOND})
    print(f"deploy and rollback of the second app, load on the demo app: {load.summary()}")
    return {
        "load": load, "deployed": deployed, "rolled_back": rolled_back,
        "second_before": second_before, "second_after_deploy": second_after_deploy,
        "second_after_rollback": second_history(host), "demo": demo, "before": before,
        "after": {"started": started_at(host, demo), "route": demo_route_files(host, proxy_engine),
                  "live": live_release(host)["live"]},
    }  # fmt: skip


def test_a_deploy_and_a_rollback_of_one_app_succeed_and_move_only_its_release(
    second_deployed_and_rolled_back_under_load_on_the_demo: dict[str, Any],
) -> None:
    run = second_deployed_and_rolled_back_under_load_on_the_demo
    assert run["deployed"].returncode == 0, run["deployed"].stdout[-3000:]
    assert run["rolled_back"].returncode == 0, run["rolled_back"].stdout[-3000:]
    assert run["second_after_deploy"]["release"] == "multi"
    assert run["second_after_deploy"]["live"] != run["second_before"]["live"]
    assert run["second_after_rollback"]["live"] == run["second_before"]["live"]


def test_the_other_app_fails_no_request_during_them(
    second_deployed_and_rolled_back_under_load_on_the_demo: dict[str, Any],
) -> None:
    load = second_deployed_and_rolled_back_under_load_on_the_demo["load"]
    assert_every_client_served(load)


def test_the_other_app_is_not_restarted_nor_rerouted(
    second_deployed_and_rolled_back_under_load_on_the_demo: dict[str, Any],
) -> None:
    run = second_deployed_and_rolled_back_under_load_on_the_demo
    assert run["after"]["started"] == run["before"]["started"]
    assert run["after"]["live"] == run["demo"]
    assert run["after"]["route"] == run["before"]["route"]


def test_the_other_app_answered_from_its_one_release_throughout(
    second_deployed_and_rolled_back_under_load_on_the_demo: dict[str, Any],
) -> None:
    load = second_deployed_and_rolled_back_under_load_on_the_demo["load"]
    assert len(load.report["releases"]) == 1, load.summary()


def test_a_deploy_of_one_app_names_it_in_the_audit_log(
    host: testinfra.host.Host,
    second_deployed_and_rolled_back_under_load_on_the_demo: dict[str, Any],
) -> None:
    lines = host.file("/var/log/fastapi-app/audit.log").content_string.splitlines()
    entries = [json.loads(line) for line in lines[-4:]]
    assert {(e["app"], e["action"]) for e in entries} >= {(SECOND, "deploy"), (SECOND, "rollback")}


def test_the_logs_of_one_app_are_its_own(
    client: testinfra.host.Host, pebble_root: str, second_site: Site
) -> None:
    marker = f"marker={uuid.uuid4().hex}"
    get(client, pebble_root, second_site, f"/health?{marker}")
    result = run_playbook(LOGS_PLAYBOOK, {"app": SECOND, "app_logs_lines": 20})
    assert result.returncode == 0, result.stdout[-3000:]
    assert marker in result.stdout
    assert f"live: {SECOND}-" in result.stdout
    assert f"live: {DEMO_APP}-" not in result.stdout


def test_a_day2_playbook_asks_which_app_when_there_are_several(host: testinfra.host.Host) -> None:
    """Nothing is changed: the run stops in its validation, naming the apps."""
    live = live_release(host)
    result = run_playbook(DEPLOY_PLAYBOOK, {"app": ""})
    assert result.returncode != 0
    output = result.stdout + result.stderr  # a failed task's message goes to stderr
    assert "several apps (app, hello): name one with -e app=<name>" in output
    assert play_recap(result.stdout)[f"fd-{scenario_name()}-server"]["changed"] == 0
    assert live_release(host) == live


@pytest.mark.runs_last
def test_removing_one_app_leaves_the_other_serving_and_keeps_a_backup(
    host: testinfra.host.Host, client: testinfra.host.Host, pebble_root: str, site: Site,
    second_site: Site,
) -> None:  # fmt: skip
    demo = live_release(host)["live"]
    demo_started = started_at(host, demo)
    second_containers = host.check_output(
        f"docker ps -a --filter label=fastapi-deploy.app={SECOND} --format '{{{{.Names}}}}'"
    ).split()
    assert second_containers
    only_the_demo = [app for app in scenario_apps() if app["name"] != SECOND]
    with load_through_proxy(site, pebble_root, clients=RELOAD_CLIENTS) as load:
        # Every app of the inventory (no app named: conftest names the demo app otherwise).
        removed = run_playbook(APP_PLAYBOOK, {"app": "", "fastapi_apps": only_the_demo})
    print(f"removal of the second app, load on the demo app: {load.summary()}")
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert_no_request_failed(load)
    assert started_at(host, demo) == demo_started
    assert get(client, pebble_root, site, "/health").status == 200
    # The second app's route, containers, images, state and upstream went.
    gone_site = client.run(
        f"curl -fsS --max-time 10 --cacert {pebble_root} '{second_site.url('/health')}'"
    )
    assert gone_site.rc != 0
    assert (
        host.check_output(
            f"docker ps -a --filter label=fastapi-deploy.app={SECOND} --format '{{{{.Names}}}}'"
        )
        == ""
    )
    assert "fastapi-app-hello" not in host.check_output("docker images --format '{{.Repository}}'")
    for gone in (SECOND_STATE, SECOND_UPSTREAM, f"/etc/fastapi-app/{SECOND}",
                 f"/etc/fastapi-proxy/caddy/upstreams/{SECOND}.caddy"):  # fmt: skip
        assert not host.file(gone).exists, gone
    # What it stored is kept: its release history and environment, root only, and the audit log.
    backups = host.check_output(f"ls -d /var/backups/fastapi-app/{SECOND}-*").split()
    assert len(backups) == 1
    history = json.loads(host.file(f"{backups[0]}/releases.json").content_string)
    assert history["live"] in second_containers
    assert host.file(f"{backups[0]}/app.env").mode == 0o600
    last = json.loads(host.file("/var/log/fastapi-app/audit.log").content_string.splitlines()[-1])
    assert (last["app"], last["action"], last["result"]) == (SECOND, "remove", "removed")
