#!/usr/bin/env python3
"""A hostile client from one address: many TLS connections that ask for a large file and never
read the answer (the attack that once got the proxy OOM-killed).

Runs inside the client container (standard library only: Debian's python3). It opens at most
--connections connections one after another, sends --requests pipelined GETs on each, holds
them all for --hold seconds without reading a byte, then closes them. It prints one JSON object:
how many connections were accepted and how many refused, by reason.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import time
from collections import Counter

# A tiny receive window: the server's writes stall at once, so it holds whatever it buffers.
RECEIVE_BUFFER_BYTES = 4096
CONNECT_TIMEOUT_SECONDS = 5.0


def open_stalled_connection(
    arguments: argparse.Namespace, context: ssl.SSLContext
) -> ssl.SSLSocket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    raw.settimeout(CONNECT_TIMEOUT_SECONDS)
    try:
        raw.connect((arguments.address, arguments.port))
        connection = context.wrap_socket(raw, server_hostname=arguments.server_name)
        request = (
            f"GET {arguments.path} HTTP/1.1\r\nHost: {arguments.server_name}\r\n"
            "Accept-Encoding: identity\r\n\r\n"
        ).encode()
        connection.sendall(request * arguments.requests)
    except BaseException:
        raw.close()
        raise
    return connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--server-name", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--hold", type=float, required=True)
    arguments = parser.parse_args()

    context = ssl.create_default_context(cafile=arguments.cafile)
    # HTTP/1.1 only: pipelined requests, one TCP connection each.
    context.set_alpn_protocols(["http/1.1"])
    held: list[ssl.SSLSocket] = []
    refused: Counter[str] = Counter()
    started = time.monotonic()
    for _ in range(arguments.connections):
        try:
            held.append(open_stalled_connection(arguments, context))
        except OSError as failure:
            refused[type(failure).__name__] += 1
    opened_after = time.monotonic() - started
    time.sleep(max(0.0, arguments.hold - opened_after))
    for connection in held:
        connection.close()
    print(
        json.dumps(
            {
                "attempted": arguments.connections,
                "accepted": len(held),
                "refused": sum(refused.values()),
                "refused_by_reason": dict(refused),
                "seconds_to_open": round(opened_after, 2),
                "held_seconds": round(time.monotonic() - started, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
