"""`harness/vm.py`'s forwards: an address of the VM's own on the loopback network, each port
forwarded from the same port, never a non-loopback address or a taken port. What a booted VM
is (seed, kernel, systemd, apparmor, sudo, loopback-only forwards, accelerator) is checked on the
VM the `vm` scenario boots (molecule/tests/test_vm_instance.py), which its destroy step powers
off with `down`."""

from __future__ import annotations

import socket

import pytest

from harness import vm


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
