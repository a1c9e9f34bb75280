"""The database on a server of its own beside a Docker Swarm (the group swarm_database): the
postgres role runs it there, on the swarm's internal overlay network, and the apps' replicas
reach it by name over that network; the server is a worker the apps' services are kept off (a
placement constraint on its label), and it publishes no port; its backups are the role's, on
that server. A restore (db_restore.yml, on the swarm's inventory as on a single server's) scales
the apps' services to none while it restores, then back to their replicas, healthy, before it
returns: a note written after the backup is gone; a restore that fails brings them back too,
and the data is as it was.

Only the swarm scenario runs this module (conftest: `runs_here`). `host` is the database's server
(fd-swarm-db); the manager, the edge, answers for the swarm.
"""

from __future__ import annotations

import json
import re
import shlex
import time
import uuid
from collections.abc import Callable, Iterator
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
RESTORE_PLAYBOOK = "playbooks/db_restore.yml"


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


def running_replicas(manager: testinfra.host.Host) -> list[str]:
    """The IDs of the app's tasks running now (Swarm reports one running once it is healthy)."""
    output = manager.check_output(
        f"docker service ps {SERVICE} --filter desired-state=running --no-trunc"
        " --format '{{.ID}} {{.CurrentState}}'"
    )
    return sorted(line.split()[0] for line in output.splitlines() if " Running " in f" {line} ")


def restore(name: str) -> dict[str, Any]:
    """db_restore.yml run on the swarm's inventory: its status, its output (whitespace runs made
    single spaces) and its seconds."""
    started = time.monotonic()
    result = run_playbook(RESTORE_PLAYBOOK, {"postgres_restore_backup": name})
    output = re.sub(r"\s+", " ", result.stdout + result.stderr)
    return {"status": result.returncode, "output": output, "seconds": time.monotonic() - started}


@pytest.fixture(scope="module")
def restored_backup(
    host: testinfra.host.Host,
    manager: testinfra.host.Host,
    database: dict[str, str],
    notes_api: Callable[..., Response],
    written_note: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """A backup, a note written after it, then the backup restored: the note, the replicas
    running before and the moment the restore returned, and the restore's run."""
    name = f"swarm-restore-{uuid.uuid4().hex[:8]}"
    backup = run_playbook(
        BACKUP_PLAYBOOK, {"postgres_backup_name": name, "fastapi_deploy_hosts": "swarm_database"}
    )
    try:
        assert backup.returncode == 0, (backup.stdout + backup.stderr)[-3000:]
        later = notes_api(f"after the backup {uuid.uuid4().hex}")
        assert later.status == 201, later
        assert later.json() in listed_notes(notes_api)
        before = running_replicas(manager)
        run = restore(name)
        after = running_replicas(manager)
        print(f"swarm restore: {run['seconds']:.1f} s")
        yield {"later": later.json(), "before": before, "after": after, **run}
    finally:
        host.run(f"rm -f {database['backup_dir']}/{name}.dump")


def test_the_restore_scales_the_apps_replicas_to_none_and_returns_with_them_running_healthy(
    restored_backup: dict[str, Any], inventory_vars: dict[str, Any], manager: testinfra.host.Host
) -> None:
    """Every replica running when it returned is a new one (the ones before were stopped), as
    many as the service declares."""
    assert restored_backup["status"] == 0, restored_backup["output"][-3000:]
    count = int(inventory_vars["app_replicas"])
    assert len(restored_backup["before"]) == count, restored_backup["before"]
    assert len(restored_backup["after"]) == count, restored_backup["after"]
    assert not set(restored_backup["before"]) & set(restored_backup["after"]), restored_backup
    declared = manager.check_output(
        f"docker service inspect {SERVICE} --format '{{{{.Spec.Mode.Replicated.Replicas}}}}'"
    )
    assert int(declared) == count
    assert f"swarm services scaled back: {SERVICE}" in restored_backup["output"]


def test_a_note_written_after_the_backup_is_gone_after_its_restore_and_the_site_answers(
    restored_backup: dict[str, Any],
    written_note: dict[str, Any],
    notes_api: Callable[..., Response],
) -> None:
    notes = listed_notes(notes_api)
    assert restored_backup["later"] not in notes
    assert written_note in notes


def test_a_failed_restore_brings_the_replicas_back_names_the_failure_and_keeps_the_data(
    host: testinfra.host.Host,
    manager: testinfra.host.Host,
    database: dict[str, str],
    inventory_vars: dict[str, Any],
    notes_api: Callable[..., Response],
    restored_backup: dict[str, Any],
) -> None:
    """A dump pg_restore cannot read: the restore fails after the replicas were scaled to none."""
    notes = listed_notes(notes_api)
    name = f"broken-{uuid.uuid4().hex[:8]}"
    dump = f"{database['backup_dir']}/{name}.dump"
    host.check_output(f"echo 'not a dump' > {dump}")
    try:
        run = restore(name)
    finally:
        host.run(f"rm -f {dump}")
    print(f"failed swarm restore: {run['seconds']:.1f} s")
    assert run["status"] != 0
    said = f"the restore of {dump} failed at 'Restore the backup into it'"
    assert said in run["output"], run["output"][-3000:]
    assert len(running_replicas(manager)) == int(inventory_vars["app_replicas"])
    assert listed_notes(notes_api) == notes
