"""plugins/filter/backups.py: what `status` says of the backups' ages, and which are too old."""

from __future__ import annotations

from ansible_collections.fastapi_deploy.toolkit.plugins.filter.backups import (
    age_in_words,
    backup_ages,
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
