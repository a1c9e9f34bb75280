"""Installing packages: nothing is run when dpkg says each package is installed; otherwise the
package lists are updated whenever they are missing, whatever the age of their directory, and
when the caller says its sources changed."""

from __future__ import annotations

from ansible_collections.fastapi_deploy.toolkit.plugins.action.apt_install import (
    all_installed,
    lists_valid_for,
)


def test_missing_package_lists_are_updated_now() -> None:
    assert lists_valid_for(0, 3600, refresh=False) == 0


def test_present_package_lists_are_kept_for_the_time_given() -> None:
    assert lists_valid_for(12, 3600, refresh=False) == 3600


def test_a_changed_source_updates_the_lists_whatever_their_age() -> None:
    assert lists_valid_for(12, 3600, refresh=True) == 0


def test_packages_dpkg_reports_installed_need_no_apt_run() -> None:
    output = "docker.io installed\npython3-requests installed\n"
    assert all_installed(["docker.io", "python3-requests"], 0, output)


def test_a_package_removed_but_known_to_dpkg_goes_to_apt() -> None:
    output = "docker.io installed\nunattended-upgrades config-files\n"
    assert not all_installed(["docker.io", "unattended-upgrades"], 0, output)


def test_a_package_dpkg_does_not_know_goes_to_apt() -> None:
    assert not all_installed(["docker.io", "docker-ce"], 1, "docker.io installed\n")


def test_a_version_or_architecture_in_a_name_goes_to_apt() -> None:
    assert not all_installed(["docker-ce=5:27.3.1-1"], 0, "docker-ce installed\n")
    assert not all_installed(["libc6:amd64"], 0, "libc6 installed\n")
