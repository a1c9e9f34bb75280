"""The vm scenario's server is the cloud-like VM harness/vm.py promises: booted from the cached
image under QEMU (KVM only where it really works), its identity from the NoCloud seed, its own
kernel with systemd as PID 1 and apparmor, SSH key login by a sudo user, and forwards bound to
the loopback network only. (Checked here, on the VM the scenario boots anyway, rather than on a
VM booted for this alone.)"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import testinfra

from harness import vm

testinfra_hosts = ["ansible://fastapi_servers"]

INSTANCE = "fd-vm-server"


@pytest.fixture(scope="module")
def instance() -> vm.Instance:
    booted = vm.load_instance(INSTANCE)
    assert booted is not None, f"no running VM named {INSTANCE}"
    return booted


def test_accelerator_is_tcg_unless_kvm_really_works(instance: vm.Instance) -> None:
    assert instance.accelerator == ("kvm" if vm.kvm_candidate() else "tcg")


def test_hostname_comes_from_the_cloud_seed(host: testinfra.host.Host) -> None:
    assert host.check_output("hostname") == vm.HOSTNAME


def test_cloud_init_finished_without_errors(host: testinfra.host.Host) -> None:
    assert "status: done" in host.check_output("cloud-init status --wait")


def test_hostname_resolves_without_dns(host: testinfra.host.Host) -> None:
    """cloud-init wrote it into /etc/hosts; otherwise every sudo warns it cannot resolve it."""
    assert host.run(f"getent hosts {vm.HOSTNAME}").rc == 0


def test_seeded_user_has_passwordless_sudo(host: testinfra.host.Host) -> None:
    sudo = host.run("sudo -n id -u")
    assert sudo.stdout.strip() == "0"
    assert "unable to resolve host" not in sudo.stderr


def test_release_is_the_image_suite(host: testinfra.host.Host) -> None:
    assert host.file("/etc/os-release").contains(f"^VERSION_CODENAME={vm.SUITE}$")


def test_systemd_is_pid_1_and_running(host: testinfra.host.Host) -> None:
    assert host.check_output("ps -o comm= -p 1") == "systemd"
    assert host.run("systemctl is-system-running --wait").stdout.strip() == "running"


def test_apparmor_is_enabled_for_docker(host: testinfra.host.Host) -> None:
    assert host.file("/sys/module/apparmor/parameters/enabled").content_string.strip() == "Y"


def test_own_kernel_not_the_hosts(host: testinfra.host.Host) -> None:
    assert host.check_output("uname -r").endswith("-cloud-amd64")


def test_forwards_listen_on_loopback_only(instance: vm.Instance) -> None:
    command_line = Path(f"/proc/{instance.pid}/cmdline").read_bytes().decode().split("\0")
    forwards = [part for part in ",".join(command_line).split(",") if part.startswith("hostfwd")]
    assert forwards
    for forward in forwards:
        address = forward.removeprefix("hostfwd=tcp:").split(":")[0]
        assert ipaddress.ip_address(address).is_loopback, forward
