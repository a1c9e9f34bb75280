"""Installing packages: the package lists are updated whenever they are missing, whatever the
age of their directory, and when the caller says its sources changed."""

from __future__ import annotations

from ansible_collections.fastapi_deploy.toolkit.plugins.action.apt_install import lists_valid_for


def test_missing_package_lists_are_updated_now() -> None:
    assert lists_valid_for(0, 3600, refresh=False) == 0


def test_present_package_lists_are_kept_for_the_time_given() -> None:
    assert lists_valid_for(12, 3600, refresh=False) == 3600


def test_a_changed_source_updates_the_lists_whatever_their_age() -> None:
    assert lists_valid_for(12, 3600, refresh=True) == 0
