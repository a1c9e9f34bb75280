"""The host is hardened: key-only SSH, automatic security updates, a sudo user, time sync."""

from __future__ import annotations

import pytest
import testinfra

testinfra_hosts = ["ansible://fastapi_servers"]

SSHD_EFFECTIVE = {
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
    "permitemptypasswords": "no",
    "pubkeyauthentication": "yes",
    # The deploy user has keys (the sandbox's inventory), so root logins are closed.
    "permitrootlogin": "no",
    "maxauthtries": "3",
    "allowtcpforwarding": "no",
    "allowagentforwarding": "no",
    "allowstreamlocalforwarding": "no",
}


@pytest.mark.parametrize(("setting", "value"), SSHD_EFFECTIVE.items())
def test_sshd_effective_setting(host: testinfra.host.Host, setting: str, value: str) -> None:
    effective = dict(
        line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line
    )
    assert effective[setting] == value


def test_sshd_runs_and_starts_on_boot(host: testinfra.host.Host) -> None:
    assert host.service("ssh").is_running
    assert host.service("ssh").is_enabled


def test_security_updates_install_automatically(host: testinfra.host.Host) -> None:
    assert host.package("unattended-upgrades").is_installed
    periodic = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic


def test_deploy_user_can_sudo(host: testinfra.host.Host) -> None:
    deploy = host.user("deploy")
    assert deploy.exists
    assert "sudo" in deploy.groups
    assert host.run("sudo -l -U deploy").stdout.count("(ALL : ALL) NOPASSWD: ALL") == 1


def test_deploy_user_has_no_password(host: testinfra.host.Host) -> None:
    assert host.user("deploy").password in {"!", "*"}


def test_time_sync_starts_on_boot(host: testinfra.host.Host) -> None:
    assert host.service("systemd-timesyncd").is_enabled
