"""plugins/filter/backups.py: what `status` says of the backups' ages, and which are too old."""

from __future__ import annotations

from ansible_collections.fastapi_deploy.toolkit.plugins.filter.backups import (
    age_in_words,
    backup_ages,
    offsite_repositories_problems,
)

NOW = 1_800_000_000.0
HOUR = 3600


def test_ages_read_in_the_two_largest_units() -> None:
    assert age_in_words(59) == "0 min"
    assert age_in_words(5 * 60) == "5 min"
    assert age_in_words(5 * HOUR + 7 * 60) == "5 h 07 min"
    assert age_in_words(52 * HOUR) == "2 d 4 h"


def test_a_backup_within_the_limit_is_reported_and_not_stale() -> None:
    report = backup_ages({"last off-site copy": NOW - 2 * HOUR}, NOW, NOW - 100 * HOUR, 26)
    assert report == {"lines": ["last off-site copy 2 h 00 min ago"], "stale": []}


def test_a_backup_older_than_the_limit_is_stale() -> None:
    report = backup_ages(
        {"last off-site copy": NOW - 27 * HOUR, "newest local backup": NOW - HOUR},
        NOW, NOW - 100 * HOUR, 26,
    )  # fmt: skip
    assert report["stale"] == ["last off-site copy"]


def test_a_new_server_is_given_the_limit_for_its_first_backup() -> None:
    report = backup_ages({"last off-site copy": 0}, NOW, NOW - 3 * HOUR, 26)
    assert report == {
        "lines": ["last off-site copy: none yet (set up 3 h 00 min ago)"],
        "stale": [],
    }


def test_no_backup_long_after_the_set_up_is_stale() -> None:
    assert backup_ages({"newest local backup": 0}, NOW, NOW - 30 * HOUR, 26)["stale"] == [
        "newest local backup"
    ]


S3 = {
    "repository": "s3:https://s3.example.test/backups/web1",
    "environment": {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "not-shown-secret"},
}


def test_s3_repositories_with_their_keys_pass() -> None:
    second = {**S3, "repository": "s3:http://10.0.0.5:8333/backups/web1"}
    assert offsite_repositories_problems([S3, second]) == []


def test_no_repository_is_refused() -> None:
    assert offsite_repositories_problems([]) == [
        "offsite_repositories: name at least one repository to copy to"
    ]


def test_a_repository_on_the_servers_own_disk_is_refused_naming_its_entry() -> None:
    (problem,) = offsite_repositories_problems([S3, {**S3, "repository": "/var/backups/restic"}])
    assert problem.startswith("offsite_repositories[1].repository: '/var/backups/restic' is ")
    assert "neither an S3 repository" in problem


def test_an_s3_repository_without_its_keys_is_refused_without_quoting_a_secret() -> None:
    entry = {**S3, "environment": {"AWS_SECRET_ACCESS_KEY": "not-shown-secret"}}
    (problem,) = offsite_repositories_problems([entry])
    assert problem.startswith("offsite_repositories[0].environment: an S3 repository needs")
    assert "not-shown-secret" not in problem


def test_a_repository_named_twice_is_refused() -> None:
    assert offsite_repositories_problems([S3, S3]) == [
        f"offsite_repositories[1].repository: '{S3['repository']}' is named twice"
    ]


def test_environment_names_must_be_variable_names() -> None:
    entry = {**S3, "environment": {**S3["environment"], "aws-region": "x"}}
    assert offsite_repositories_problems([entry]) == [
        "offsite_repositories[0].environment: aws-region: not environment variable names"
    ]


SFTP = {
    "repository": "sftp:offsite@backup.example.test:/srv/offsite/web1",
    "ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-shown\n-----END ...",
    "ssh_known_hosts": "backup.example.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKU2",
}


def test_an_sftp_repository_with_its_key_and_the_hosts_key_passes() -> None:
    assert offsite_repositories_problems([S3, SFTP]) == []


def test_an_sftp_repository_without_the_hosts_key_is_refused() -> None:
    entry = {**SFTP, "ssh_known_hosts": "other.example.test ssh-ed25519 AAAA"}
    assert offsite_repositories_problems([entry]) == [
        "offsite_repositories[0].ssh_known_hosts: no key of backup.example.test (a line of "
        "`ssh-keyscan backup.example.test`, checked out of band)"
    ]


def test_an_sftp_repository_without_a_private_key_is_refused_without_quoting_it() -> None:
    (problem,) = offsite_repositories_problems([{**SFTP, "ssh_private_key": "not-shown"}])
    assert problem.startswith("offsite_repositories[0].ssh_private_key: an SFTP repository needs")
    assert "not-shown" not in problem
