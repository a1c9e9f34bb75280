"""Whether TCP ports of the server answer from the controller: the preflight's view from outside.

A port is reachable when the server answers the connection, whether it accepts it (the proxy
already runs) or refuses it (nothing listens yet, on a fresh server). Only a connection that
gets no answer at all (a cloud firewall or a host firewall dropping it) or that cannot be routed
means visitors, and the CA's validation servers, cannot reach the site.
"""

from __future__ import annotations

import socket
from typing import TypedDict

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
name: tcp_probe
short_description: Whether TCP ports of addresses answer from the controller
description:
  - Opens one TCP connection from the controller to each address and port and closes it at
    once; sends nothing.
  - The outcome is C(open) (accepted), C(refused) (the host answered with a reset: reachable,
    nothing listens), C(timeout) (no answer: something drops it) or C(unreachable) (no route).
options:
  _terms:
    description: Addresses (IPv4, IPv6 or names) to probe.
    required: true
  ports:
    description: TCP ports to probe on each address.
    type: list
    elements: int
    required: true
  timeout:
    description: Seconds to wait for an answer to each connection.
    type: float
    default: 5
"""

RETURN = """
_raw:
  description: One dict per address and port, with address, port and outcome.
"""

REACHABLE = frozenset({"open", "refused"})


class Knock(TypedDict):
    address: str
    port: int
    outcome: str


def knock(address: str, port: int, timeout: float) -> Knock:
    """One connection attempt, classified by what came back."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            outcome = "open"
    except ConnectionRefusedError:
        outcome = "refused"
    except TimeoutError:  # the socket's own timeout and the kernel's ETIMEDOUT alike
        outcome = "timeout"
    except OSError:
        outcome = "unreachable"
    return {"address": address, "port": port, "outcome": outcome}


def knocks(addresses: list[str], ports: list[int], timeout: float) -> list[Knock]:
    return [knock(address, port, timeout) for address in addresses for port in ports]


class LookupModule(LookupBase):
    def run(
        self, terms: list[object], variables: dict[str, object] | None = None, **kwargs: object
    ) -> list[Knock]:
        self.set_options(var_options=variables, direct=kwargs)
        if not terms:
            raise AnsibleLookupError("tcp_probe needs at least one address")
        ports = [int(port) for port in self.get_option("ports")]
        return knocks([str(term) for term in terms], ports, float(self.get_option("timeout")))
