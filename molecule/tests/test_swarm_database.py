"""The database on a server of its own beside a Docker Swarm (the group swarm_database): the
postgres role runs it there, on the swarm's internal overlay network, and the apps' replicas
reach it by name over that network; the server is a worker the apps' services are kept off (a
placement constraint on its label), and it publishes no port; its backups are the role's, on
that server.

Only the swarm scenario runs this module (conftest: `runs_here`). `host` is the database's server
(fd-swarm-db); the manager, the edge, answers for the swarm.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import testinfra
from conftest import Response, listed_notes, run_playbook, scenario_name

from harness.common import database_names

testinfra_hosts = ["ansible://swarm_database"]

DATABASE_SERVER = f"fd-{scenario_name()}-db"
MANAGER = f"fd-{scenario_name()}-server"
SERVICE = "app"
BACKUP_PLAYBOOK = "playbooks/db_backup.yml"


@pytest.fixture(scope="module")
def database(host: testinfra.host.Host) -> dict[str, str]:
    """Where the postgres role puts the database on its server (its network is named as its
    container, the role's default)."""
    return database_names(host.ansible.get_variables())


@pytest.fixture(scope="module")
def manager() -> testinfra.host.Host:
    return testinfra.get_host(f"docker://{MANAGER}")


def sql(host: testinfra.host.Host, database: dict[str, str], query: str) -> str:
    """One query as the superuser, over the database container's own socket."""
    return host.check_output(
        f"docker exec --user postgres {database['container']} psql --no-psqlrc -tA "
        f"-d {database['name']} -c {shlex.quote(query)}"
    )


@pytest.fixture(scope="module")
def written_note(notes_api: Callable[..., Response]) -> dict[str, Any]:
    """A note written through the edge over HTTPS, as the app answered it."""
    created = notes_api(f"beside the swarm {uuid.uuid4().hex}")
    assert created.status == 201, created
    return dict(created.json())


def test_a_note_written_at_the_edge_is_listed_by_the_app(
    written_note: dict[str, Any], notes_api: Callable[..., Response]
) -> None:
    assert written_note in listed_notes(notes_api)


def test_a_note_written_at_the_edge_is_stored_on_the_database_server(
    host: testinfra.host.Host, database: dict[str, str], written_note: dict[str, Any]
) -> None:
    text = written_note["text"].replace("'", "''")
    assert sql(host, database, f"SELECT count(*) FROM notes WHERE text = '{text}'") == "1"


def test_the_database_network_is_an_internal_attachable_overlay(
    manager: testinfra.host.Host, database: dict[str, str]
) -> None:
    network = json.loads(manager.check_output(f"docker network inspect {database['container']}"))[0]
    found = (network["Driver"], network["Scope"], network["Internal"], network["Attachable"])
    assert found == ("overlay", "swarm", True, True)


def test_the_apps_service_is_kept_off_the_database_server(manager: testinfra.host.Host) -> None:
    constraints = json.loads(
        manager.check_output(
            f"docker service inspect {SERVICE}"
            " --format '{{json .Spec.TaskTemplate.Placement.Constraints}}'"
        )
    )
    nodes = manager.check_output(
        f"docker service ps {SERVICE} --filter desired-state=running --format '{{{{.Node}}}}'"
    ).split()
    assert "node.labels.fastapi_deploy.database != true" in constraints
    assert nodes, "no replica running"
    assert DATABASE_SERVER not in nodes, nodes


def test_the_database_server_runs_the_database_alone_and_publishes_no_port(
    host: testinfra.host.Host, database: dict[str, str]
) -> None:
    running = host.check_output("docker ps --format '{{.Names}} [{{.Ports}}]'").splitlines()
    assert running == [f"{database['container']} []"]


def test_a_backup_of_the_database_server_leaves_a_dump_there(
    host: testinfra.host.Host, database: dict[str, str], written_note: dict[str, Any]
) -> None:
    name = f"swarm-{uuid.uuid4().hex[:8]}"
    dump = f"{database['backup_dir']}/{name}.dump"
    result = run_playbook(
        BACKUP_PLAYBOOK, {"postgres_backup_name": name, "fastapi_deploy_hosts": "swarm_database"}
    )
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        # The dump holds the notes' table (pg_restore reads its table of contents).
        contents = host.check_output(
            f"docker exec -i {database['container']} pg_restore --list < {dump}"
        )
        assert " TABLE public notes " in contents
    finally:
        host.run(f"rm -f {dump}")
