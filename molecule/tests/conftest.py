"""Shared fixtures of the scenarios' testinfra suite.

`host` is the server (the `fastapi_servers` group of Molecule's inventory). `client` is a plain
container on the scenario's network: it plays an outside client, so the server sees its real
address (through a port published on the host, Docker's userland proxy would hide it). In the
`vm` scenario the client shares this machine's network and reaches the VM at its own loopback
address, through QEMU's port forwards.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import testinfra
import yaml

from harness import alerts_receiver as alerts_receiver_in
from harness.common import (
    CACHE_DIR,
    LOADGEN,
    REPO_DIR,
    SITE_PLAYBOOK,
    docker,
    role_defaults,
    wait_until,
)
from harness.common import run_playbook as run_any_playbook

PEBBLE_HTTPS_CA = CACHE_DIR / "pebble-https-ca.pem"
CLIENT_PEBBLE_HTTPS_CA = "/usr/local/share/pebble-https-ca.pem"
CLIENT_PEBBLE_ROOT = "/usr/local/share/pebble-root.pem"
APP_STATE_FILE = role_defaults("app")["app_state_file"]
CLIENT_LOADGEN = "/usr/local/bin/loadgen.py"


@dataclass(frozen=True)
class Site:
    """What the inventory says the server serves."""

    domain: str
    prefix: str
    workers: int
    server_address: str

    def url(self, path: str = "/", scheme: str = "https") -> str:
        return f"{scheme}://{self.domain}{self.prefix}{path}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:  # noqa: ANN401 - the app's JSON, any shape
        return json.loads(self.body)


def scenario_name() -> str:
    return os.environ.get("MOLECULE_SCENARIO_NAME", "default")


# Which modules each scenario runs. A reboot exists only on the VM. The VM (minutes per step
# under emulation) runs only what a VM shows and a container cannot: its ports and firewall seen
# from outside through a real network stack, the hardening of a real sshd and resolver, the
# certificate it got over that network, the reboot, and the VM itself (harness/vm.py).
# Everything else is the same proxy and app configuration as in the container scenarios.
VM_MODULES = [
    "test_certificate.py", "test_firewall.py", "test_hardening.py", "test_ports.py",
    "test_reboot.py", "test_vm_instance.py",
]  # fmt: skip
VM_ONLY_MODULES = ["test_reboot.py", "test_vm_instance.py"]
# What depends neither on the proxy engine nor on the Debian release runs in one container
# scenario only. The default scenario (Debian 12) runs most of it (the engine switch there goes
# to Traefik and back, both directions); the traefik scenario (Debian 13) runs the day-2
# operations, secrets, tags and preflight, so that the two scenarios, side by side, take about
# as long as each other. The firewall and the hardening run on both releases.
ENGINE_INDEPENDENT_MODULES = ["test_browser.py", "test_engine_switch.py", "test_redis.py"]
TRAEFIK_ENGINE_INDEPENDENT_MODULES = [
    "test_operations.py", "test_preflight.py", "test_secrets.py", "test_tags.py",
]  # fmt: skip
# The same within a module (default, where the source builds find the build cache warm): the
# database's and the several apps' tests that do not go through the proxy, and a release that
# fails before any switch (its health check, or its container exiting).
ENGINE_INDEPENDENT_TESTS = [
    "test_deploy.py::test_release_failing_its_health_check_is_removed_and_the_live_one_keeps_serving",
    "test_deploy.py::test_a_code_only_build_reuses_the_installed_requirements",
    "test_deploy.py::test_release_whose_container_exits_fails_the_deploy_at_once",
    # The database's own life: its backups, restore, container, network and versions; a broken
    # migration stops the deploy before any switch. Traefik meets the database through the
    # notes' requests and the migration deploy under load.
    *(
        f"test_database.py::{name}"
        for name in (
            "test_backup_is_root_only",
            "test_failed_dump_leaves_the_backups_as_they_were",
            "test_backup_timer_is_scheduled",
            "test_scheduled_backups_keep_the_newest",
            "test_the_restore_returns_when_the_apps_answer_their_health_checks",
            "test_rows_come_back_after_the_volume_is_lost_and_a_backup_restored",
            "test_passwords_are_not_in_the_verbose_backup_and_restore_output",
            "test_restore_of_a_missing_backup_names_the_ones_there_are",
            "test_database_killed_comes_back_with_its_data",
            "test_database_port_is_published_nowhere",
            "test_database_network_is_internal_and_not_the_proxy_network",
            "test_port_5432_is_closed_from_outside",
            "test_major_version_change_is_refused_and_leaves_the_database_running",
            "test_minor_upgrade_replaces_the_container_and_keeps_every_row",
            "test_broken_migration_stops_the_deploy_and_the_live_release_keeps_serving",
        )
    ),
    # An app's audit line, its logs, the question which app: the app role's alone.
    "test_multi_app.py::test_a_deploy_of_one_app_names_it_in_the_audit_log",
    "test_multi_app.py::test_the_logs_of_one_app_are_its_own",
    "test_multi_app.py::test_a_day2_playbook_asks_which_app_when_there_are_several",
]


# The registry path's tests run only where the server deploys a prebuilt image from the harness's
# registry (the traefik scenario's host_vars set app_image); the default scenario builds from
# source, and its registry container serves nobody. The vm scenario pulls from the registry too
# (to spare minutes of pip under emulation), but a pull shows nothing on a VM that the traefik
# scenario's does not: it runs its VM_MODULES only.
REGISTRY_MODULES = ["test_registry.py"]


# The database's tests run where the inventory puts PostgreSQL beside the app (both container
# scenarios). Its migration deploys are the pre-start command's tests for an image built on the
# server (a broken migration stops the deploy before the switch; a good one runs once under
# load), as test_registry's are for a pulled image (traefik). The good one is also each
# scenario's deploy under load (no failed request, every answer from the new release after it,
# the old release kept for a rollback).
DATABASE_MODULES = ["test_database.py"]
# The off-site copies' tests run where the inventory turns them on (offsite_enabled: traefik).
OFFSITE_MODULES = ["test_offsite.py"]
# The alerts' tests run where the inventory turns them on (alerts_enabled: default), with a
# webhook receiver on the client container.
ALERTS_MODULES = ["test_alerts.py"]
# Alerts' tests in other modules, where the condition they alert on is made anyway.
ALERTS_TESTS = [
    "test_certificate_renewal.py::"
    "test_a_certificate_near_its_expiry_and_a_failed_renewal_each_fire_once_and_resolve_once",
]

# Redis' tests run where the inventory puts Redis beside the app (redis_enabled).
REDIS_MODULES = ["test_redis.py"]
# The processes' and scheduled jobs' tests run where the demo app has them (app_processes: its
# queue worker; app_jobs: its scheduled jobs; both beside Redis).
PROCESS_MODULES = ["test_processes.py"]
JOB_MODULES = ["test_scheduled_jobs.py"]


# The several-apps tests run where the inventory lists its apps (fastapi_apps: both container
# scenarios, molecule/container-apps-vars.yml). Their removal of an app runs last of all (marker
# runs_last): the app it removes is gone for the rest of the scenario.
MULTI_APP_MODULES = ["test_multi_app.py"]


# The swarm scenario's servers are a swarm, not single servers: it runs its own modules alone,
# and no other scenario runs them.
SWARM_MODULES = [
    "test_swarm_cluster.py",
    "test_swarm_apps.py",
    "test_swarm_database.py",
    "test_swarm_edge.py",
    "test_swarm_node_loss.py",
]


def scenario_host_vars(scenario: str) -> dict[str, Any]:
    """The server's host_vars files of a scenario, merged in name order as Ansible reads them."""
    host_vars = REPO_DIR / "molecule" / scenario / "host_vars" / f"fd-{scenario}-server"
    merged: dict[str, Any] = {}
    for path in sorted(host_vars.glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def runs_here(test: str, scenario: str) -> bool:
    """Whether the test (`module.py::name`) runs in the scenario."""
    module = test.split("::")[0]
    if scenario == "swarm":
        return module in SWARM_MODULES
    if module in SWARM_MODULES:
        return False
    host_vars = scenario_host_vars(scenario)
    if scenario == "vm":
        return module in VM_MODULES
    if module in VM_ONLY_MODULES:
        return False
    if module in REGISTRY_MODULES:
        return bool(host_vars.get("app_image"))
    if module in DATABASE_MODULES and not host_vars.get("postgres_enabled"):
        return False
    if module in OFFSITE_MODULES and not host_vars.get("offsite_enabled"):
        return False
    if (module in ALERTS_MODULES or test in ALERTS_TESTS) and not host_vars.get("alerts_enabled"):
        return False
    if module in REDIS_MODULES and not host_vars.get("redis_enabled"):
        return False
    if module in PROCESS_MODULES and not host_vars.get("app_processes"):
        return False
    if module in JOB_MODULES and not host_vars.get("app_jobs"):
        return False
    if module in MULTI_APP_MODULES and not host_vars.get("fastapi_apps"):
        return False
    if module in TRAEFIK_ENGINE_INDEPENDENT_MODULES:
        return scenario == "traefik"
    engine_independent = module in ENGINE_INDEPENDENT_MODULES or test in ENGINE_INDEPENDENT_TESTS
    return not (scenario == "traefik" and engine_independent)


def run_position(item: pytest.Item) -> int:
    """Where a test runs: first (marker runs_first), with the others in module order, or last
    (marker runs_last)."""
    if item.get_closest_marker("runs_first"):
        return 0
    return 2 if item.get_closest_marker("runs_last") else 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselects the tests this scenario does not run (Molecule names every module on the
    command line, so `collect_ignore` cannot leave them out)."""
    scenario = scenario_name()

    def here(item: pytest.Item) -> bool:
        # originalname: the test's name without its parameters (the host testinfra adds).
        name = getattr(item, "originalname", item.name)
        return runs_here(f"{item.path.name}::{name}", scenario)

    deselected = [item for item in items if not here(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if here(item)]
    items.sort(key=run_position)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "runs_first: runs before every other test of the scenario")
    config.addinivalue_line("markers", "runs_last: runs after every other test of the scenario")


@pytest.fixture(scope="session")
def inventory_vars() -> dict[str, Any]:
    """The server's variables as Molecule's inventory (with the sandbox group_vars) has them."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    server = testinfra.get_host(
        f"ansible://fd-{scenario_name()}-server?ansible_inventory={inventory}"
    )
    return dict(server.ansible.get_variables())


@pytest.fixture(scope="session")
def proxy_engine(inventory_vars: dict[str, Any]) -> str:
    return str(inventory_vars.get("proxy_engine", "caddy"))


@pytest.fixture(scope="session")
def client() -> testinfra.host.Host:
    return testinfra.get_host(f"docker://fd-{scenario_name()}-client")


@pytest.fixture(scope="session")
def site(client: testinfra.host.Host, inventory_vars: dict[str, Any]) -> Site:
    domain = inventory_vars["proxy_domains"][0]
    return Site(
        domain=domain,
        prefix=inventory_vars.get("proxy_path_prefix", ""),
        workers=int(inventory_vars["app_workers"]),
        server_address=client.check_output(f"getent hosts {domain} | cut -d' ' -f1"),
    )


@pytest.fixture(scope="session")
def client_address(client: testinfra.host.Host, inventory_vars: dict[str, Any]) -> str:
    """The client's address as the server sees it: its own, or its NAT's (the VM's gateway)."""
    return (
        inventory_vars.get("sandbox_client_address")
        or client.check_output("hostname -i").split()[0]
    )


def answers_from_outside(client: testinfra.host.Host, site: Site, port: int) -> bool:
    """Something on the server answers on the port: it sends bytes back after an HTTP request
    for the site (a web server answers it, sshd greets first). A TCP handshake alone is not
    proof: QEMU's port forward accepts every connection and only then tries the guest."""
    return answers_at(client, site.server_address, port, site.domain)


def answers_at(client: testinfra.host.Host, address: str, port: int, domain: str) -> bool:
    """Something at the address answers on the port a request for the domain, as seen from the
    client. (A request that names no site gets no answer from the proxy on port 80.)"""
    probe = (
        f"import socket; s = socket.create_connection(('{address}', {port}), timeout=5); "
        f"s.settimeout(5); s.sendall(b'GET / HTTP/1.0\\r\\nHost: {domain}\\r\\n\\r\\n'); "
        "exit(0 if s.recv(1) else 1)"
    )
    return client.run(f'python3 -c "{probe}"').rc == 0


@pytest.fixture(scope="session")
def pebble_root(client: testinfra.host.Host) -> str:
    """Pebble's current issuing root, fetched over Pebble's own verified HTTPS, in the client."""
    container = f"fd-{scenario_name()}-client"
    subprocess.run(
        ["docker", "cp", str(PEBBLE_HTTPS_CA), f"{container}:{CLIENT_PEBBLE_HTTPS_CA}"], check=True
    )
    client.check_output(
        f"curl -fsS --cacert {CLIENT_PEBBLE_HTTPS_CA} -o {CLIENT_PEBBLE_ROOT} "
        "https://pebble:15000/roots/0"
    )
    return CLIENT_PEBBLE_ROOT


def live_release(host: testinfra.host.Host) -> dict[str, Any]:
    """The server's own record of the live release: {"live": container, "release": name,
    "history": containers that were live, oldest first}."""
    return json.loads(host.file(APP_STATE_FILE).content_string)


@pytest.fixture
def app_container(host: testinfra.host.Host) -> str:
    """Name of the live release's container."""
    return live_release(host)["live"]


def parse_curl(output: str) -> Response:
    """Splits `curl -si` output into the final response (skipping 1xx and redirect heads)."""
    rest = output.replace("\r\n", "\n")
    while True:
        head, _, rest = rest.partition("\n\n")
        if not rest.startswith("HTTP/"):
            break
    lines = head.split("\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(status=int(lines[0].split()[1]), headers=headers, body=rest)


@pytest.fixture
def https_get(client: testinfra.host.Host, site: Site, pebble_root: str) -> Callable[..., Response]:
    """GET from the client over HTTPS, verifying the chain against Pebble's root."""

    def get(path: str, headers: dict[str, str] | None = None) -> Response:
        header_args = " ".join(f"-H '{name}: {value}'" for name, value in (headers or {}).items())
        output = client.check_output(
            f"curl -sS -i --max-time 20 --cacert {pebble_root} {header_args} '{site.url(path)}'"
        )
        return parse_curl(output)

    return get


# The demo app: the legacy app (app_name's default) of a scenario that serves several apps
# (fastapi_apps in its host_vars), where the day-2 playbooks need the app's name.
DEMO_APP = "app"
# The demo app's repository in the harness's registry (fd-<scenario>-registry): demo/app:1.0 is
# the scenarios' image, demo/app:1.1 the same app with one more label (another digest).
REPOSITORY = "registry.example.test:5000/demo/app"


def registry_exec(*args: str) -> str:
    return docker("exec", f"fd-{scenario_name()}-registry", *args)


def registry_credentials(inventory_vars: dict[str, Any]) -> str:
    return f"{inventory_vars['app_registry_username']}:{inventory_vars['app_registry_password']}"


def registry_digest(inventory_vars: dict[str, Any], tag: str) -> str:
    """The manifest digest the registry serves for the tag."""
    return registry_exec(
        "skopeo", "inspect", "--creds", registry_credentials(inventory_vars), "--format",
        "{{.Digest}}", f"docker://localhost:5000/demo/app:{tag}",
    )  # fmt: skip


def swarm_replicas(host: testinfra.host.Host, service: str) -> list[tuple[str, str]]:
    """(node, image) of each replica of the Swarm service running now, asked of a manager."""
    output = host.check_output(
        f"docker service ps {service} --filter desired-state=running --no-trunc"
        " --format '{{.Node}} {{.Image}} {{.CurrentState}}'"
    )
    running = [line.split() for line in output.splitlines() if " Running " in f" {line} "]
    return [(fields[0], fields[1]) for fields in running]


def scenario_apps() -> list[dict[str, Any]]:
    """The scenario's fastapi_apps (empty: one app, the demo app of the app_* variables)."""
    return list(scenario_host_vars(scenario_name()).get("fastapi_apps") or [])


def run_playbook(
    playbook: str, extra_vars: dict[str, object], *options: str
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook against this scenario's server, as an operator would run it. Where the
    server has several apps, the demo app unless extra_vars names another (-e app=<name>; an
    empty name for every app): the day-2 playbooks need the name, and site.yml then deploys the
    demo app alone, leaving the second app as the scenario converged it."""
    named = {"app": DEMO_APP} if scenario_apps() else {}
    return run_any_playbook(
        playbook, "--limit", "fastapi_servers", *options,
        inventory=os.environ["MOLECULE_INVENTORY_FILE"], extra_vars={**named, **extra_vars},
        timeout=900,
    )  # fmt: skip


def converge_site(extra_vars: dict[str, object], *options: str) -> str:
    """site.yml against this scenario's server; fails unless the run succeeds. Returns what it
    printed."""
    result = run_playbook(SITE_PLAYBOOK, extra_vars, *options)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def answers_locally(host: testinfra.host.Host, port: int) -> bool:
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"
    return host.run(f'python3 -c "{probe}"').rc == 0


@contextmanager
def host_listener(
    host: testinfra.host.Host, port: int, unit: str, program: str | None = None
) -> Iterator[int]:
    """A service of the server itself on a port nobody opened (a transient systemd unit): an
    HTTP server, or the Python `program` given."""
    command = f'python3 -c "{program}"' if program else f"python3 -m http.server {port}"
    host.check_output(f"systemd-run --unit {unit} {command}")
    try:
        wait_until(lambda: answers_locally(host, port), 30)
        yield port
    finally:
        host.run(f"systemctl stop {unit}")


@pytest.fixture(scope="session")
def served(client: testinfra.host.Host, site: Site, pebble_root: str) -> Callable[[], bool]:
    """True when the app answers 200 through the proxy with a verified certificate."""

    def check() -> bool:
        result = client.run(
            f"curl -fsS -o /dev/null --max-time 5 --cacert {pebble_root} '{site.url('/health')}'"
        )
        return result.rc == 0

    return check


@pytest.fixture(scope="session")
def notes_api(client: testinfra.host.Host, site: Site, pebble_root: str) -> Callable[..., Response]:
    """The demo app's notes endpoint through the proxy, from the outside client: GET, or POST a
    text. A worker's first notes request loads the database driver and connects; under the
    VM's emulation the VM's first one was not answered within 20 s."""

    def call(text: str | None = None) -> Response:
        data = ""
        if text is not None:
            body = shlex.quote(json.dumps({"text": text}))
            data = f"-X POST -H 'content-type: application/json' --data {body}"
        output = client.check_output(
            f"curl -sS -i --max-time 20 --cacert {pebble_root} {data} '{site.url('/notes')}'"
        )
        return parse_curl(output)

    return call


def listed_notes(notes_api: Callable[..., Response]) -> list[dict[str, Any]]:
    """Every note the app lists."""
    response = notes_api()
    assert response.status == 200, response
    return list(response.json())


@pytest.fixture(scope="session")
def served_certificate_serial(
    client: testinfra.host.Host, site: Site, pebble_root: str
) -> Callable[[], str]:
    def serial() -> str:
        return client.check_output(
            f"openssl s_client -connect {site.domain}:443 -servername {site.domain} "
            f"-CAfile {pebble_root} </dev/null 2>/dev/null | openssl x509 -noout -serial"
        )

    return serial


def verified_certificate(
    client: testinfra.host.Host, site: Site, cafile: str, *x509_args: str
) -> str:
    """What `openssl x509 -noout <x509_args>` says of the certificate served for the site's
    domain, from the client, if its chain verifies against cafile; "" otherwise."""
    result = client.run(
        f"openssl s_client -connect {site.domain}:443 -servername {site.domain} "
        f"-CAfile {cafile} -verify_return_error </dev/null 2>/dev/null "
        f"| openssl x509 -noout {' '.join(x509_args)}"
    )
    return result.stdout.strip() if result.rc == 0 else ""


def served_serial(client: testinfra.host.Host, site: Site, cafile: str) -> str:
    """Serial of the certificate served, if it verifies against cafile; "" otherwise."""
    return verified_certificate(client, site, cafile, "-serial")


@dataclass
class Load:
    """What the load generator saw; `report` is filled when the load has stopped."""

    report: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        keys = (
            "total", "ok", "failed", "failed_by_error", "error_spans",
            "retried_stale_connections", "elapsed", "releases", "by_kind",
        )  # fmt: skip
        return json.dumps({key: self.report.get(key) for key in keys})


# The clients at a switch (a deploy, a rollback, maintenance, another app's deploy, a renewal):
# each kind harness/loadgen.py has, the long request (5 s) in flight across the switch.
SWITCH_CLIENTS = "keepalive=2,fresh=1,post=1,long=1,websocket=1"
SWITCH_LONG_PATH = "slow?seconds=5"
# Each client paced at one request per 20 ms (50 a second; the mix at most 300): dense enough
# that every switch meets requests of every kind in flight, light enough that the deploy under
# test is not starved of the 2 CPUs it shares with the load. The benchmark sends back to back.
LOAD_INTERVAL_SECONDS = 0.02


@contextmanager
def load_through_proxy(
    site: Site,
    cafile: str,
    path: str = "/health",
    limit: float = 600,
    max_per_connection: int = 0,
    clients: str = SWITCH_CLIENTS,
) -> Iterator[Load]:
    """Sends requests from the client container to the site for as long as the block runs (at
    most `limit` seconds and 500 000 requests), then records the report. The GETs ask `path`;
    the other kinds ask their paths beside it (POSTs, long requests, a WebSocket). With
    max_per_connection, each connection is replaced (a new TLS handshake) after that many."""
    container = f"fd-{scenario_name()}-client"
    marker = f"/tmp/load-{uuid.uuid4().hex}"
    subprocess.run(["docker", "cp", str(LOADGEN), f"{container}:{CLIENT_LOADGEN}"], check=True)
    command = [
        "docker", "exec", container, "python3", CLIENT_LOADGEN, "--url", site.url(path),
        "--cafile", cafile, "--clients", clients, "--long-path", SWITCH_LONG_PATH,
        "--duration", str(limit),
        "--max-requests", "500000", "--stop-file", f"{marker}.stop", "--ready-file",
        f"{marker}.ready", "--max-per-connection", str(max_per_connection),
        "--interval", str(LOAD_INTERVAL_SECONDS),
    ]  # fmt: skip
    generator = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    load = Load()
    try:
        wait_until(
            lambda: (
                subprocess.run(
                    ["docker", "exec", container, "test", "-e", f"{marker}.ready"], check=False
                ).returncode
                == 0
                or generator.poll() is not None
            ),
            30,
        )
        yield load
    finally:
        subprocess.run(["docker", "exec", container, "touch", f"{marker}.stop"], check=False)
        output, _ = generator.communicate(timeout=limit + 60)
        load.report = json.loads(output) if output.strip() else {"failed": -1, "total": 0}


# A change of the proxy's configuration (an app's route removed, the operators' networks) still
# reloads Caddy, which closes idle client keep-alive connections: a client sends its GET again
# (counted in the report, and printed), and a POST would be lost. Such tests load the site with
# keep-alive GETs of the check path (the one maintenance leaves to the operator).
RELOAD_CLIENTS = "keepalive=4"


def assert_no_request_failed(load: Load) -> None:
    """Every request was answered (a GET sent again on a new connection included)."""
    assert load.report["total"] > 0, load.summary()
    assert load.report["failed"] == 0, load.report["failures"]


def assert_every_client_served(load: Load) -> None:
    """Every kind of client in the load was answered, and none failed or was retried: a GET
    that a closed keep-alive connection made the client send again is a failure it saw."""
    assert load.report["total"] > 0, load.summary()
    # Each kind's counts and the errors' spans with the first failures: which clients failed, when.
    assert load.report["failed"] == 0, f"{load.report['failures']}\n{load.summary()}"
    assert load.report["retried_stale_connections"] == 0, load.summary()
    unanswered = [kind for kind, counts in load.report["by_kind"].items() if counts["ok"] == 0]
    assert not unanswered, f"no answer for {unanswered}: {load.summary()}"


# Alerts (the default scenario's alerts_senders and alerts_heartbeat_url): a receiver on the
# client (harness/alerts_receiver.py), and one run of the checker as its timer starts it.
ALERTS_UNIT = "fastapi-alerts"
# Where the scenario's alerts_cafile points: Pebble's issuing root, which changes with each
# Pebble start, so the tests put it there.
ALERTS_CAFILE = "/usr/local/share/pebble-root.pem"


def client_container() -> str:
    return f"fd-{scenario_name()}-client"


def run_alert_checks(host: testinfra.host.Host) -> testinfra.backend.base.CommandResult:
    """One run of the checker, as its timer starts it."""
    return host.run(f"systemctl start {ALERTS_UNIT}.service")


@pytest.fixture(scope="module")
def alerts_receiver(
    host: testinfra.host.Host, client: testinfra.host.Host, pebble_root: str
) -> Iterator[str]:
    """The receiver running and empty, the checker trusting Pebble's root, and the timer stopped
    (each test runs the checker itself): the receiver's container. What the checker sent before
    is delivered and dropped first. Afterwards the server is as it was: the timer running, no
    Pebble root."""
    host.check_output(f"systemctl stop {ALERTS_UNIT}.timer")
    root = client.check_output(f"cat {pebble_root}")
    host.check_output(f"printf '%s\\n' {shlex.quote(root)} > {ALERTS_CAFILE}")
    container = client_container()
    alerts_receiver_in.start(container)
    try:
        run_alert_checks(host)
        alerts_receiver_in.clear(container)
        yield container
    finally:
        alerts_receiver_in.remove(container)
        host.run(f"rm -f {ALERTS_CAFILE}")
        host.check_output(f"systemctl start {ALERTS_UNIT}.timer")


@pytest.fixture
def fresh_alerts(alerts_receiver: str) -> Callable[[], list[dict[str, Any]]]:
    """What the receiver gets from now on."""
    alerts_receiver_in.clear(alerts_receiver)
    return lambda: alerts_receiver_in.received(alerts_receiver)


def alerts_about(alerts: list[dict[str, Any]], status: str, check: str) -> list[dict[str, Any]]:
    return [alert for alert in alerts if alert["status"] == status and alert["check"] == check]
