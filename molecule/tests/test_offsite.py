"""Off-site copies of the backups (roles/offsite): a backup is copied with restic, together with
a listed volume, into the scenario's S3 object store (SeaweedFS) and onto its SFTP backup host
(OpenSSH); the copies are encrypted with the repositories' password; a store that cannot be
reached fails the backup loudly, keeps the local dump and does not stop the copy to the other;
and the restore brings back what a server lost, replacing nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import testinfra
from conftest import Response, converge_site, listed_notes, run_playbook, scenario_name

from harness import sandbox
from harness.common import docker, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

BACKUP_PLAYBOOK = "playbooks/db_backup.yml"
STATUS_PLAYBOOK = "playbooks/status.yml"
RESTORE_PLAYBOOK = "playbooks/offsite_restore.yml"
DB_RESTORE_PLAYBOOK = "playbooks/db_restore.yml"
DATABASE_PLAYBOOK = "playbooks/database.yml"
UNIT = "fastapi-offsite-backup"
REPOSITORIES = "/etc/fastapi-deploy/offsite/repositories.sh"
DUMPS = "/var/backups/postgres"
VOLUME = "app-uploads"


S3, SFTP = 0, 1


def restic(
    host: testinfra.host.Host, arguments: str, repository: int = S3, changed: str = ""
) -> testinfra.backend.base.CommandResult:
    """restic on the server, as the copy to the repository of that index runs it (`changed`:
    variables set over its environment)."""
    command = (
        f". {REPOSITORIES}; offsite_environment_{repository}; "
        f'export RESTIC_REPOSITORY="${{offsite_repositories[{repository}]}}"; '
        f'{changed} restic "${{offsite_restic_options[@]}}" {arguments}'
    )
    return host.run(f"bash -c {shlex.quote(command)}")


def last_copy_file(host: testinfra.host.Host) -> str:
    """Where the copy to the first repository records when it last succeeded."""
    return host.check_output(f"bash -c '. {REPOSITORIES}; echo ${{offsite_state_files[0]}}'")


def repository(inventory_vars: dict[str, Any], index: int = S3) -> str:
    return str(inventory_vars["offsite_repositories"][index]["repository"])


def volume_dir(host: testinfra.host.Host) -> str:
    return host.check_output(f"docker volume inspect --format '{{{{.Mountpoint}}}}' {VOLUME}")


def sha256(host: testinfra.host.Host, path: str) -> str:
    return host.check_output(f"sha256sum {shlex.quote(path)}").split()[0]


def output(result: Any) -> str:  # noqa: ANN401 - a CompletedProcess
    return str(result.stdout) + str(result.stderr)


@pytest.fixture(scope="module")
def uploaded(host: testinfra.host.Host) -> dict[str, str]:
    """Two files in the listed volume, as an app's uploads would be: path -> content."""
    host.check_output(f"docker volume create {VOLUME}")
    files = {
        f"{volume_dir(host)}/upload-{uuid.uuid4().hex[:8]}.txt": f"uploaded {uuid.uuid4().hex}"
        for _ in range(2)
    }
    for path, content in files.items():
        host.check_output(f"printf %s {shlex.quote(content)} > {path}")
    return files


@pytest.fixture(scope="module")
def copied(host: testinfra.host.Host, uploaded: dict[str, str]) -> dict[str, str]:
    """A named backup by db_backup (verbose: -vvv), which copies it off the server: the dump's
    path and checksum, and the playbook's output."""
    name = f"offsite-{uuid.uuid4().hex[:8]}"
    result = run_playbook(BACKUP_PLAYBOOK, {"postgres_backup_name": name}, "-vvv")
    assert result.returncode == 0, output(result)[-3000:]
    dump = f"{DUMPS}/{name}.dump"
    return {"dump": dump, "sha256": sha256(host, dump), "output": output(result)}


@pytest.mark.parametrize("store", [S3, SFTP], ids=["S3", "SFTP"])
def test_a_backup_is_copied_to_each_store_with_the_listed_volume(
    host: testinfra.host.Host, copied: dict[str, str], uploaded: dict[str, str], store: int
) -> None:
    listed = restic(host, "ls latest", store)
    assert listed.rc == 0, listed.stderr
    assert copied["dump"] in listed.stdout.splitlines()
    assert set(uploaded) <= set(listed.stdout.splitlines())


def test_the_copy_cannot_be_read_without_the_repository_password(
    host: testinfra.host.Host, copied: dict[str, str]
) -> None:
    # The environment of the copy, the storage's credentials included; only the password wrong.
    wrong = restic(host, "snapshots", changed="RESTIC_PASSWORD_FILE= RESTIC_PASSWORD=not-it")
    assert wrong.rc != 0
    assert "wrong password" in wrong.stderr.lower()


def test_the_copy_runs_on_a_schedule(host: testinfra.host.Host) -> None:
    timer = host.service(f"{UNIT}.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_the_storage_secrets_are_in_root_only_files_and_no_output(
    host: testinfra.host.Host, copied: dict[str, str], inventory_vars: dict[str, Any]
) -> None:
    for path in (REPOSITORIES, "/etc/fastapi-deploy/offsite/password"):
        secret_file = host.file(path)
        assert (secret_file.user, secret_file.group, secret_file.mode) == ("root", "root", 0o600)
    secrets = [
        str(inventory_vars["offsite_password"]),
        str(inventory_vars["offsite_repositories"][0]["environment"]["AWS_SECRET_ACCESS_KEY"]),
    ]
    for secret in secrets:
        assert secret not in copied["output"]
        assert secret not in host.check_output(f"systemctl show {UNIT}.service")


def test_status_reports_the_age_of_the_last_copy(
    copied: dict[str, str], inventory_vars: dict[str, Any]
) -> None:
    result = run_playbook(STATUS_PLAYBOOK, {})
    assert result.returncode == 0, output(result)[-3000:]
    for store in (S3, SFTP):
        reported = rf"last copy to {re.escape(repository(inventory_vars, store))} \d+ min ago"
        assert re.search(reported, output(result)), output(result)[-3000:]


def test_status_fails_when_the_last_copy_is_older_than_the_limit(
    host: testinfra.host.Host, copied: dict[str, str], inventory_vars: dict[str, Any]
) -> None:
    last_copy = last_copy_file(host)
    host.check_output(f"touch -d '30 hours ago' {last_copy}")
    try:
        result = run_playbook(STATUS_PLAYBOOK, {})
    finally:
        host.check_output(f"touch {last_copy}")
    assert result.returncode != 0
    stale = f"offsite_max_age_hours: last copy to {repository(inventory_vars)} older than 26 h"
    assert stale in output(result)


def test_a_store_out_of_reach_fails_the_backup_keeps_the_dump_and_not_the_other_copy(
    host: testinfra.host.Host, copied: dict[str, str], inventory_vars: dict[str, Any]
) -> None:
    # The SFTP host: an S3 store out of reach is retried for 15 minutes by restic 0.17 and later
    # (Debian 13's), an SFTP host fails at once.
    store = f"fd-{scenario_name()}-backup-host"
    name = f"unreachable-{uuid.uuid4().hex[:8]}"
    dump = f"{DUMPS}/{name}.dump"
    docker("stop", store)
    try:
        result = run_playbook(BACKUP_PLAYBOOK, {"postgres_backup_name": name})
    finally:
        docker("start", store)
    assert result.returncode != 0
    assert f"offsite: the copy to {repository(inventory_vars, SFTP)} FAILED" in output(result)
    assert host.file(dump).is_file
    assert dump in restic(host, "ls latest", S3).stdout.splitlines()
    assert host.run(f"systemctl is-failed {UNIT}.service").stdout.strip() == "failed"
    # The host back, the next copy succeeds and carries the dump the failed one could not.
    wait_until(lambda: restic(host, "cat config", SFTP).rc == 0, 60)
    assert host.run(f"systemctl start {UNIT}.service").rc == 0
    assert dump in restic(host, "ls latest", SFTP).stdout.splitlines()


def test_the_restore_brings_back_what_was_lost_and_replaces_nothing(
    host: testinfra.host.Host,
    copied: dict[str, str],
    uploaded: dict[str, str],
    inventory_vars: dict[str, Any],
) -> None:
    # What a lost server lacks: the dump and one uploaded file. The other file exists, changed
    # since the copy: it stays as it is.
    lost, kept = sorted(uploaded)
    host.check_output(f"rm -f {copied['dump']} {lost}")
    host.check_output(f"printf changed > {kept}")
    # From the SFTP host (the S3 store's copies are read by the tests above).
    result = run_playbook(
        RESTORE_PLAYBOOK, {"offsite_restore_from": repository(inventory_vars, SFTP)}
    )
    assert result.returncode == 0, output(result)[-3000:]
    assert sha256(host, copied["dump"]) == copied["sha256"]
    assert host.file(lost).content_string == uploaded[lost]
    assert host.file(kept).content_string == "changed"


def test_turning_the_copies_off_stops_them_and_takes_their_credentials_away(
    host: testinfra.host.Host,
) -> None:
    """offsite_enabled false: the timer stops and the role's files go, the storage credentials
    first; the local dumps stay. Turned on again, the copies are back."""
    dumps = host.check_output(f"ls {DUMPS}")
    result = run_playbook(DATABASE_PLAYBOOK, {"offsite_enabled": False})
    try:
        assert result.returncode == 0, output(result)[-3000:]
        assert not host.file(REPOSITORIES).exists
        assert not host.file(f"/etc/systemd/system/{UNIT}.timer").exists
        assert host.run(f"systemctl is-active {UNIT}.timer").stdout.strip() != "active"
        assert host.check_output(f"ls {DUMPS}") == dumps
    finally:
        again = run_playbook(DATABASE_PLAYBOOK, {})
    assert again.returncode == 0, output(again)[-3000:]
    assert host.service(f"{UNIT}.timer").is_running


def network_of(container: str) -> tuple[str, str, list[str]]:
    """The container's scenario network: its name, the container's address, and the domain
    names it answers to there (Docker adds its name and short ID as aliases too)."""
    networks = json.loads(
        docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container)
    )
    name, settings = next((n, s) for n, s in networks.items() if n.startswith("fd-"))
    aliases = [alias for alias in settings.get("Aliases") or [] if "." in alias]
    return name, str(settings["IPAMConfig"]["IPv4Address"]), aliases


@pytest.mark.runs_last
def test_a_server_lost_entirely_comes_back_from_the_off_site_copies(
    host: testinfra.host.Host,
    notes_api: Callable[..., Response],
    served: Callable[[], bool],
    inventory_vars: dict[str, Any],
) -> None:
    """The server's container and its volumes are destroyed; a new server from the same image
    is provisioned with site.yml, the backups come back from the S3 store (the restore above
    reads the SFTP host's), the database from the newest dump: every note written before the
    last backup is served again, and the uploaded files are back. Prints the recovery time (new
    server to every row served)."""
    texts = [f"before the loss {uuid.uuid4().hex}" for _ in range(3)]
    for text in texts:
        assert notes_api(text).status == 201
    host.check_output(f"docker volume create {VOLUME}")
    upload = f"upload-{uuid.uuid4().hex[:8]}.txt"
    host.check_output(f"printf %s {shlex.quote(texts[0])} > {volume_dir(host)}/{upload}")
    name = f"before-loss-{uuid.uuid4().hex[:8]}"
    result = run_playbook(BACKUP_PLAYBOOK, {"postgres_backup_name": name})
    assert result.returncode == 0, output(result)[-3000:]

    server = f"fd-{scenario_name()}-server"
    network, address, aliases = network_of(server)
    docker("rm", "--force", "--volumes", server)
    started = time.monotonic()
    docker(
        "run", "--detach", "--name", server, "--hostname", server, "--network", network,
        "--ip", address, *(arg for alias in aliases for arg in ("--network-alias", alias)),
        *sandbox.server_container_options(scenario_name()),
    )  # fmt: skip
    wait_until(lambda: docker("exec", server, "systemctl", "is-system-running", check=False).strip()
               in ("running", "degraded"), 120)  # fmt: skip
    converge_site({})
    restored = run_playbook(RESTORE_PLAYBOOK, {"offsite_restore_from": repository(inventory_vars)})
    assert restored.returncode == 0, output(restored)[-3000:]
    database = run_playbook(DB_RESTORE_PLAYBOOK, {"postgres_restore_backup": f"{name}.dump"})
    assert database.returncode == 0, output(database)[-3000:]
    # The new server's certificate is its own, issued once its proxy runs: rows are served when
    # it verifies.
    wait_until(served, 120)
    served_texts = [note["text"] for note in listed_notes(notes_api)]
    recovery = time.monotonic() - started
    print(f"rebuild from nothing: new server to every row served in {recovery:.0f} s")
    assert set(texts) <= set(served_texts)
    assert host.file(f"{volume_dir(host)}/{upload}").content_string == texts[0]
