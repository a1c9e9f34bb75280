"""The preflight's port probe: a host that answers, accepting or refusing, is reachable; one that
never answers is not. Everything here is on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.lookup import tcp_probe as plugin

LOOPBACK = "127.0.0.1"


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.create_server((LOOPBACK, 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.create_server((LOOPBACK, 0)) as server:
        return server.getsockname()[1]


@pytest.fixture
def dropping() -> Iterator[int]:
    """A port whose accept queue is full: Linux drops further SYNs, as a firewall's DROP does."""
    with socket.socket() as server:
        server.bind((LOOPBACK, 0))
        server.listen(0)
        port = server.getsockname()[1]
        queued: list[socket.socket] = []
        while len(queued) < 8:
            try:
                queued.append(socket.create_connection((LOOPBACK, port), timeout=0.5))
            except TimeoutError:
                break
        try:
            yield port
        finally:
            for connection in queued:
                connection.close()


def test_a_listening_port_is_open(listening: int) -> None:
    assert plugin.knock(LOOPBACK, listening, 2)["outcome"] == "open"


def test_a_port_nobody_listens_on_is_refused_and_so_reachable(closed_port: int) -> None:
    knock = plugin.knock(LOOPBACK, closed_port, 2)
    assert knock["outcome"] == "refused"
    assert knock["outcome"] in plugin.REACHABLE


def test_a_port_that_never_answers_times_out(dropping: int) -> None:
    knock = plugin.knock(LOOPBACK, dropping, 0.5)
    assert knock == {"address": LOOPBACK, "port": dropping, "outcome": "timeout"}
    assert knock["outcome"] not in plugin.REACHABLE


def test_each_address_and_port_is_probed(listening: int, closed_port: int) -> None:
    knocks = plugin.knocks([LOOPBACK], [listening, closed_port], 2)
    assert [(knock["port"], knock["outcome"]) for knock in knocks] == [
        (listening, "open"),
        (closed_port, "refused"),
    ]
