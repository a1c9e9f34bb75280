"""`harness/vm.py up` boots a cloud-like Debian 12 VM from the cached image: identity from the
NoCloud seed, SSH key login, systemd, apparmor, forwards on 127.0.0.1 only; `down` powers it
off. The Molecule `vm` scenario (issue 8) is built on it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import vm
from harness.common import REPO_DIR

NAME = "fastapi-vm-harness-test"


def run_vm(action: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "harness.vm", action, "--name", NAME],
        cwd=REPO_DIR, check=True, capture_output=True, text=True, timeout=900,
    ).stdout  # fmt: skip


def on_vm(instance: vm.Instance, command: str) -> str:
    return subprocess.run(
        vm.ssh_command(instance, command), capture_output=True, text=True, check=True, timeout=300
    ).stdout.strip()


@pytest.fixture(scope="module")
def instance() -> Iterator[vm.Instance]:
    booted = vm.Instance(**json.loads(run_vm("up")))
    print(f"\nvm: accelerator {booted.accelerator}")
    yield booted
    run_vm("down")


def test_accelerator_is_tcg_unless_kvm_really_works(instance: vm.Instance) -> None:
    assert instance.accelerator == ("kvm" if vm.kvm_candidate() else "tcg")


def test_hostname_comes_from_the_cloud_seed(instance: vm.Instance) -> None:
    assert on_vm(instance, "hostname") == vm.HOSTNAME


def test_cloud_init_finished_without_errors(instance: vm.Instance) -> None:
    assert "status: done" in on_vm(instance, "cloud-init status --wait")


def test_seeded_user_has_passwordless_sudo(instance: vm.Instance) -> None:
    assert on_vm(instance, "sudo -n id -u") == "0"


def test_systemd_is_pid_1_and_running(instance: vm.Instance) -> None:
    assert on_vm(instance, "ps -o comm= -p 1") == "systemd"
    assert on_vm(instance, "systemctl is-system-running --wait") == "running"


def test_apparmor_is_enabled_for_docker(instance: vm.Instance) -> None:
    assert on_vm(instance, "cat /sys/module/apparmor/parameters/enabled") == "Y"


def test_own_kernel_not_the_hosts(instance: vm.Instance) -> None:
    assert on_vm(instance, "uname -r").endswith("-cloud-amd64")


def test_forwards_listen_on_loopback_only(instance: vm.Instance) -> None:
    command_line = Path(f"/proc/{instance.pid}/cmdline").read_bytes().decode().split("\0")
    forwards = [part for part in ",".join(command_line).split(",") if part.startswith("hostfwd")]
    assert len(forwards) == 3
    assert all(forward.startswith("hostfwd=tcp:127.0.0.1:") for forward in forwards)


def test_down_powers_the_vm_off() -> None:
    booted = vm.load_instance(NAME)
    assert booted is not None
    run_vm("down")
    assert not vm.process_alive(booted.pid)
    assert vm.load_instance(NAME) is None


def free_port_of(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def test_own_address_forwards_each_port_from_the_same_port() -> None:
    ports = [free_port_of("127.0.0.2") for _ in range(2)]
    forwards = vm.Forwards.same_ports("127.0.0.2", ports)
    assert forwards.options() == ",".join(f"hostfwd=tcp:127.0.0.2:{port}-:{port}" for port in ports)


def test_own_address_must_be_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        vm.Forwards.same_ports("192.0.2.10", [22])


def test_own_address_refuses_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="taken"):
            vm.Forwards.same_ports("127.0.0.2", [port])
