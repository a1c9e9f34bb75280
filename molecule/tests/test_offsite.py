"""Off-site copies of the backups (roles/offsite): a backup is copied with restic, together with
a listed volume, into the scenario's S3 object store (SeaweedFS) and onto its SFTP backup host
(OpenSSH); the copies are encrypted with the repositories' password; a store that cannot be
reached fails the backup loudly, keeps the local dump and does not stop the copy to the other;
and the restore brings back what a server lost, replacing nothing.
"""

from __future__ import annotations

import re
import shlex
import uuid
from typing import Any

import pytest
import testinfra
from conftest import run_playbook, scenario_name

from harness.common import docker, wait_until

testinfra_hosts = ["ansible://fastapi_servers"]

BACKUP_PLAYBOOK = "playbooks/db_backup.yml"
STATUS_PLAYBOOK = "playbooks/status.yml"
RESTORE_PLAYBOOK = "playbooks/offsite_restore.yml"
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
