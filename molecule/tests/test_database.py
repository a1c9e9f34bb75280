"""PostgreSQL beside the app (roles/postgres): the demo app's notes, written through the proxy,
survive a backup, the loss of the volume and a restore; a crash of the database; and a deploy
whose migration runs once under load. Nothing outside reaches port 5432, and the passwords
appear in no playbook output.

The migration tests deploy copies of the demo app with a migration added; at the end the
schema goes back to the scenario's head.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra
from conftest import (
    Load,
    Response,
    Site,
    assert_every_client_served,
    listed_notes,
    live_release,
    load_through_proxy,
    run_playbook,
)

from harness.common import (
    DEPLOY_PLAYBOOK,
    RUN_PLAYBOOK,
    SITE_PLAYBOOK,
    app_version,
    database_names,
    role_defaults,
    wait_until,
)

testinfra_hosts = ["ansible://fastapi_servers"]

BACKUP_PLAYBOOK = "playbooks/db_backup.yml"
RESTORE_PLAYBOOK = "playbooks/db_restore.yml"
SCENARIO_HEAD = "0001"
MIGRATION = '''"""{doc}"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS deploy_marks")
'''
# Creates a table and writes one row into it: the row count says how often it ran.
GOOD_UPGRADE = """    op.execute("CREATE TABLE deploy_marks (id serial PRIMARY KEY)")
    op.execute("INSERT INTO deploy_marks DEFAULT VALUES")"""
BROKEN_UPGRADE = """    op.execute("CREATE TABLE deploy_marks (id serial PRIMARY KEY)")
    op.execute("SELECT deliberately_missing_column FROM notes")"""


@pytest.fixture(scope="module", autouse=True)
def only_with_a_database(inventory_vars: dict[str, Any]) -> None:
    if not inventory_vars.get("postgres_enabled"):
        pytest.fail(
            "this scenario's inventory has no database (postgres_enabled), yet runs test_database"
        )


@pytest.fixture(scope="module")
def database(inventory_vars: dict[str, Any]) -> dict[str, str]:
    """The names the role's defaults and the inventory give the database."""
    return database_names(inventory_vars)


@pytest.fixture(scope="module")
def passwords(inventory_vars: dict[str, Any]) -> list[str]:
    return [
        str(inventory_vars["postgres_superuser_password"]),
        str(inventory_vars["postgres_app_password"]),
    ]


def sql(host: testinfra.host.Host, database: dict[str, str], query: str) -> str:
    """One query as the superuser, over the container's own socket."""
    return host.check_output(
        f"docker exec --user postgres {database['container']} psql --no-psqlrc -tA "
        f"-d {database['name']} -c {shlex.quote(query)}"
    )


def playbook_output(result: Any) -> str:  # noqa: ANN401 - a CompletedProcess
    return str(result.stdout) + str(result.stderr)


@pytest.fixture(scope="module")
def written_rows(client: testinfra.host.Host, site: Site, pebble_root: str) -> list[dict[str, Any]]:
    """Three notes written through the proxy; every note the app lists afterwards."""
    base = f"curl -fsS --max-time 20 --cacert {pebble_root} '{site.url('/notes')}'"
    for number in range(3):
        body = shlex.quote(json.dumps({"text": f"note {number} {uuid.uuid4().hex}"}))
        client.check_output(f"{base} -X POST -H 'content-type: application/json' --data {body}")
    rows = json.loads(client.check_output(base))
    assert len(rows) >= 3
    return list(rows)


def test_note_written_through_the_proxy_is_listed(notes_api: Callable[..., Response]) -> None:
    text = f"through the proxy {uuid.uuid4().hex}"
    created = notes_api(text)
    assert created.status == 201, created
    assert text in [note["text"] for note in listed_notes(notes_api)]


@pytest.fixture(scope="module")
def backup(written_rows: list[dict[str, Any]]) -> tuple[str, str]:
    """A named backup of the written rows, by the backup playbook run verbosely (-vvv): its
    name and the playbook's output."""
    name = f"roundtrip-{uuid.uuid4().hex[:8]}"
    result = run_playbook(BACKUP_PLAYBOOK, {"postgres_backup_name": name}, "-vvv")
    assert result.returncode == 0, playbook_output(result)[-3000:]
    return name, playbook_output(result)


def test_backup_is_root_only(
    host: testinfra.host.Host, database: dict[str, str], backup: tuple[str, str]
) -> None:
    directory = host.file(database["backup_dir"])
    dump = host.file(f"{database['backup_dir']}/{backup[0]}.dump")
    assert (directory.user, directory.mode) == ("root", 0o700)
    assert (dump.user, dump.mode) == ("root", 0o600)


def test_failed_dump_leaves_the_backups_as_they_were(
    host: testinfra.host.Host, database: dict[str, str]
) -> None:
    before = host.check_output(f"ls -A {database['backup_dir']}")
    # A paused database container: the dump fails after its temporary file was made.
    host.check_output(f"docker pause {database['container']}")
    try:
        failed = host.run(f"/usr/local/sbin/{database['container']}-backup failed-dump")
    finally:
        host.check_output(f"docker unpause {database['container']}")
    assert failed.rc != 0
    assert host.check_output(f"ls -A {database['backup_dir']}") == before


def test_backup_timer_is_scheduled(host: testinfra.host.Host, database: dict[str, str]) -> None:
    timer = host.service(f"{database['container']}-backup.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_scheduled_backups_keep_the_newest(
    host: testinfra.host.Host, database: dict[str, str], inventory_vars: dict[str, Any]
) -> None:
    keep = int({**role_defaults("postgres"), **inventory_vars}["postgres_backup_keep"])
    directory, name = database["backup_dir"], database["name"]
    old = [f"{name}-2020010{day}T000000Z.dump" for day in range(1, 10)][: keep + 1]
    host.check_output(f"cd {directory} && touch {' '.join(old)} && touch kept-by-hand.dump")
    host.check_output(f"/usr/local/sbin/{database['container']}-backup")
    scheduled = host.check_output(
        f"cd {directory} && ls -1 {name}-*Z.dump"
    ).split()  # fmt: skip
    assert len(scheduled) == keep
    assert old[0] not in scheduled  # the oldest went first
    assert host.file(f"{directory}/kept-by-hand.dump").exists


@pytest.fixture(scope="module")
def restored(
    host: testinfra.host.Host,
    database: dict[str, str],
    backup: tuple[str, str],
    client: testinfra.host.Host,
    site: Site,
    pebble_root: str,
) -> dict[str, Any]:
    """The database's container and volume destroyed, then the backup restored by the restore
    playbook run verbosely (-vvv): its output, and the health of the apps' containers the moment
    it returned."""
    host.check_output(f"docker rm -f {database['container']}")
    host.check_output(f"docker volume rm {database['volume']}")
    gone = client.run(f"curl -fsS --max-time 20 --cacert {pebble_root} '{site.url('/notes')}'")
    assert gone.rc != 0  # the rows were really gone
    result = run_playbook(RESTORE_PLAYBOOK, {"postgres_restore_backup": backup[0]}, "-vvv")
    assert result.returncode == 0, playbook_output(result)[-3000:]
    # Read the moment the playbook returned: the apps' web containers, as they were (a process,
    # such as a queue worker, has no health check).
    apps = host.check_output("docker ps --quiet --filter label=fastapi-deploy.app").split()
    web = [
        found
        for found in (host.docker(app).inspect() for app in apps)
        if "fastapi-deploy.process-of" not in found["Config"]["Labels"]
    ]
    health = [found["State"].get("Health", {}).get("Status") for found in web]
    return {"output": playbook_output(result), "apps_health": health}


def test_the_restore_returns_when_the_apps_answer_their_health_checks(
    restored: dict[str, Any],
) -> None:
    assert restored["apps_health"], "no app container found"
    assert set(restored["apps_health"]) == {"healthy"}, restored["apps_health"]


def test_rows_come_back_after_the_volume_is_lost_and_a_backup_restored(
    written_rows: list[dict[str, Any]], restored: dict[str, Any], notes_api: Callable[..., Response]
) -> None:
    assert listed_notes(notes_api) == written_rows


def test_passwords_are_not_in_the_verbose_backup_and_restore_output(
    backup: tuple[str, str], restored: dict[str, Any], passwords: list[str]
) -> None:
    assert "Dump the database now" in backup[1]  # the output is really there
    assert "Try each role's password" in restored["output"]
    for output in (backup[1], restored["output"]):
        assert not [password for password in passwords if password in output]


def test_restore_of_a_missing_backup_names_the_ones_there_are(
    database: dict[str, str], written_rows: list[dict[str, Any]]
) -> None:
    result = run_playbook(RESTORE_PLAYBOOK, {"postgres_restore_backup": "no-such-backup"})
    assert result.returncode != 0
    assert "no-such-backup.dump does not exist" in playbook_output(result)
    assert "roundtrip-" in playbook_output(result)


def test_database_killed_comes_back_with_its_data(
    host: testinfra.host.Host,
    database: dict[str, str],
    written_rows: list[dict[str, Any]],
    notes_api: Callable[..., Response],
) -> None:
    before = listed_notes(notes_api)
    container = host.docker(database["container"])
    restarts = container.inspect()["RestartCount"]
    host.check_output(f"kill -9 {container.inspect()['State']['Pid']}")
    wait_until(lambda: container.inspect()["RestartCount"] > restarts, 30)
    wait_until(lambda: notes_api().status == 200, 60)
    assert listed_notes(notes_api) == before


def test_database_port_is_published_nowhere(
    host: testinfra.host.Host, database: dict[str, str]
) -> None:
    attrs = host.docker(database["container"]).inspect()
    assert attrs["HostConfig"]["PortBindings"] in ({}, None)
    assert list(attrs["NetworkSettings"]["Networks"]) == [database["container"]]


def test_database_network_is_internal_and_not_the_proxy_network(
    host: testinfra.host.Host, database: dict[str, str], inventory_vars: dict[str, Any]
) -> None:
    network = json.loads(host.check_output(f"docker network inspect {database['container']}"))[0]
    members = {member["Name"] for member in network["Containers"].values()}
    assert network["Internal"] is True
    assert str(inventory_vars.get("proxy_container_name", "proxy")) not in members
    assert live_release(host)["live"] in members


def test_port_5432_is_closed_from_outside(client: testinfra.host.Host, site: Site) -> None:
    probe = f"import socket; socket.create_connection(('{site.server_address}', 5432), timeout=5)"
    assert client.run(f'python3 -c "{probe}"').rc != 0


def test_major_version_change_is_refused_and_leaves_the_database_running(
    host: testinfra.host.Host,
    database: dict[str, str],
    inventory_vars: dict[str, Any],
    written_rows: list[dict[str, Any]],
) -> None:
    """An image of another major version (the same server, saying PG_MAJOR=99) on the existing
    data: refused before the container is touched, with the way to upgrade."""
    image = "fastapi-deploy/postgres:major-change-test"
    current = inventory_vars["postgres_image"]
    host.check_output(
        f"printf 'FROM {current}\\nENV PG_MAJOR=99\\n' | docker build -q -t {image} -"
    )
    container_before = host.docker(database["container"]).inspect()["Id"]
    try:
        result = run_playbook(
            SITE_PLAYBOOK, {"postgres_version": "99", "postgres_image": image}, "--tags", "database"
        )
    finally:
        host.run(f"docker rmi {image}")
    output = playbook_output(result)
    assert result.returncode != 0
    assert f"holds PostgreSQL {inventory_vars['postgres_version']} data" in output
    assert "db_backup" in output and "db_restore" in output  # the way to upgrade
    assert host.docker(database["container"]).inspect()["Id"] == container_before
    assert host.docker(database["container"]).is_running


def test_minor_upgrade_replaces_the_container_and_keeps_every_row(
    host: testinfra.host.Host,
    database: dict[str, str],
    inventory_vars: dict[str, Any],
    written_rows: list[dict[str, Any]],
    notes_api: Callable[..., Response],
) -> None:
    """A newer image of the same major version (here: the scenario's with one more label, so
    another image) replaces the container on the same volume; then back to the scenario's."""
    image = "fastapi-deploy/postgres:minor-upgrade-test"
    host.check_output(
        f"printf 'FROM {inventory_vars['postgres_image']}\\nLABEL upgrade=minor\\n' "
        f"| docker build -q -t {image} -"
    )
    before = (host.docker(database["container"]).inspect()["Id"], listed_notes(notes_api))
    try:
        result = run_playbook(SITE_PLAYBOOK, {"postgres_image": image}, "--tags", "database")
        upgraded = host.docker(database["container"]).inspect()
        wait_until(lambda: notes_api().status == 200, 60)
        notes_after = listed_notes(notes_api)
    finally:
        back = run_playbook(SITE_PLAYBOOK, {}, "--tags", "database")
        host.run(f"docker rmi {image}")
    assert result.returncode == 0, playbook_output(result)[-3000:]
    assert back.returncode == 0, playbook_output(back)[-3000:]
    assert upgraded["Id"] != before[0] and upgraded["Config"]["Image"] == image
    assert notes_after == before[1]


# The migration tests: a deliberately broken migration, then a good one; the schema is put back
# at the end.


@pytest.fixture(scope="module")
def migrated_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("migrations")


def with_migration(directory: Path, marker: str, upgrade: str) -> Path:
    source = app_version(directory, marker)
    migration = source / "app" / "migrations" / "versions" / "0002_deploy_marks.py"
    migration.write_text(MIGRATION.format(doc=f"Release {marker}'s migration.", upgrade=upgrade))
    return source


@pytest.fixture(scope="module")
def scenario_schema_at_the_end(
    host: testinfra.host.Host, database: dict[str, str]
) -> Iterator[None]:
    """Back to the scenario's head: the newer release (still live) runs Alembic's downgrade, as
    an operator would with playbooks/run.yml. It stays live, on a schema it works with: the
    later modules' deploys migrate from the scenario's head."""
    yield
    if sql(host, database, "SELECT version_num FROM alembic_version") != SCENARIO_HEAD:
        result = run_playbook(
            RUN_PLAYBOOK, {"app_run_command": ["alembic", "downgrade", SCENARIO_HEAD]}
        )
        assert result.returncode == 0, playbook_output(result)[-3000:]


@pytest.fixture
def deploy_with_migration(
    site: Site, pebble_root: str, migrated_versions: Path, scenario_schema_at_the_end: None
) -> Callable[[str, str], tuple[Load, int, str]]:
    """Deploys, under load on the notes, a copy of the demo app whose migration 0002 upgrades
    with the given code: the load, the playbook's status and its output."""

    def deploy(release: str, upgrade: str) -> tuple[Load, int, str]:
        source = with_migration(migrated_versions, release, upgrade)
        with load_through_proxy(site, pebble_root, path="/notes") as load:
            result = run_playbook(
                DEPLOY_PLAYBOOK,
                {"app_source_dir": str(source), "app_image": "", "app_release": release},
            )
        return load, result.returncode, playbook_output(result)

    return deploy


def test_broken_migration_stops_the_deploy_and_the_live_release_keeps_serving(
    host: testinfra.host.Host,
    database: dict[str, str],
    deploy_with_migration: Callable[[str, str], tuple[Load, int, str]],
) -> None:
    before = live_release(host)
    load, status, output = deploy_with_migration("broken-migration", BROKEN_UPGRADE)
    print(f"deploy of a broken migration under load: {load.summary()}")
    assert status != 0
    assert "deliberately_missing_column" in output  # the migration's own error
    assert "nothing was switched" in output
    assert_every_client_served(load)
    assert live_release(host) == before
    assert sql(host, database, "SELECT version_num FROM alembic_version") == SCENARIO_HEAD
    assert sql(host, database, "SELECT to_regclass('deploy_marks') IS NULL") == "t"


def test_deploy_with_a_migration_under_load_fails_no_request_and_migrates_once(
    host: testinfra.host.Host,
    database: dict[str, str],
    deploy_with_migration: Callable[[str, str], tuple[Load, int, str]],
) -> None:
    before = live_release(host)
    load, status, output = deploy_with_migration("migrated", GOOD_UPGRADE)
    print(f"deploy with a migration under load: {load.summary()}")
    assert status == 0, output[-3000:]
    assert_every_client_served(load)
    assert load.report["last_release"] == "migrated"
    assert live_release(host)["release"] == "migrated"
    # The release before is kept (stopped) for a rollback.
    assert host.docker(before["live"]).inspect()["State"]["Status"] == "exited"
    assert sql(host, database, "SELECT version_num FROM alembic_version") == "0002"
    assert sql(host, database, "SELECT count(*) FROM deploy_marks") == "1"


def test_every_answer_after_the_migration_deploy_comes_from_the_new_release(
    site: Site, pebble_root: str
) -> None:
    with load_through_proxy(site, pebble_root, limit=3) as load:
        time.sleep(3)
    assert_every_client_served(load)
    assert set(load.report["releases"]) == {"migrated"}, load.summary()
