"""Renewal: failed requests while Caddy reloads, and while it re-issues its certificate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import BenchError, Json, Settings, on_server, server_docker
from bench.load import load, load_summary
from harness import sandbox
from harness.common import role_defaults, wait_until

# Caddy renews a certificate once less than this fraction of its lifetime is left (default
# 1/3): a configuration with nearly 1 makes it renew the certificate it holds at its next
# maintenance check, through its ordinary renewal path (no restart, storage untouched). The
# check interval is fixed when Caddy starts, so the proxy is restarted once, before any load,
# with a short renew_interval.
RENEW_NOW_RATIO = "0.9999999"
RENEW_CHECK_INTERVAL = "1s"


def caddy_config_dir() -> str:
    return f"{role_defaults('proxy')['proxy_config_dir']}/caddy"


def in_proxy(*args: str) -> str:
    return server_docker("exec", "proxy", *args)


def caddy_reload(caddyfile: str = "Caddyfile") -> None:
    in_proxy(
        "caddy", "reload", "--config", f"/etc/caddy/{caddyfile}", "--adapter", "caddyfile",
        "--force",
    )  # fmt: skip


def with_global_options(caddyfile: str, *options: str) -> str:
    """The Caddyfile with options added at the top of its global options block."""
    head, brace, rest = caddyfile.partition("\n{\n")
    if not brace:
        raise BenchError("the Caddyfile has no global options block")
    return head + brace + "".join(f"\t{option}\n" for option in options) + rest


def write_server_file(path: str, content: str) -> None:
    on_server("sh", "-c", f"cat > {path}", stdin=content)


@contextmanager
def caddy_renewing_every_second(box: sandbox.Sandbox) -> Iterator[str]:
    """Restarts the proxy (before any load) with renew_interval 1s, yields the name of a
    Caddyfile beside the live one that makes it renew now; puts everything back afterwards."""
    live_path = f"{caddy_config_dir()}/Caddyfile"
    renew_now = "Caddyfile.bench-renew-now"
    live = on_server("cat", live_path).stdout
    check = f"renew_interval {RENEW_CHECK_INTERVAL}"
    on_server("cp", "-p", live_path, f"{live_path}.bench-saved")
    try:
        write_server_file(live_path, with_global_options(live, check))
        write_server_file(
            f"{caddy_config_dir()}/{renew_now}",
            with_global_options(live, check, f"renewal_window_ratio {RENEW_NOW_RATIO}"),
        )
        server_docker("restart", "proxy")
        wait_until(lambda: sandbox.served(box), 60, interval=0.2)
        yield renew_now
    finally:
        on_server("mv", f"{live_path}.bench-saved", live_path)
        on_server("rm", "-f", f"{caddy_config_dir()}/{renew_now}")
        server_docker("restart", "proxy")
        wait_until(lambda: sandbox.served(box), 60, interval=0.2)


def one_renewal(box: sandbox.Sandbox, caddyfile: str) -> Json:
    before = sandbox.served_serial(box)
    started = time.monotonic()
    caddy_reload(caddyfile)
    took: float | None = None
    try:
        wait_until(lambda: sandbox.served_serial(box) not in {"", before}, 30, interval=0.1)
        took = round(time.monotonic() - started, 2)
    except BenchError:
        pass
    caddy_reload()  # the live configuration again: no more renewals
    return {
        "renewed": took is not None,
        "seconds": took,
        "serial_before": before,
        "serial_after": sandbox.served_serial(box),
    }


def measure_renewal(engine: str, box: sandbox.Sandbox, settings: Settings) -> Json:
    if engine != "caddy":
        return {
            "not_measured": "Traefik cannot be told to renew now: it renews 30 days before "
            "expiry, checked daily (certificatesDuration 90 days); short-lived certificates "
            "from a second Pebble are the renewal tests' work, not the bench's"
        }
    with caddy_renewing_every_second(box) as renew_now:
        with load("reload", settings, limit=300) as reloads:
            reload_samples = []
            for _ in range(settings.renewals):
                started = time.monotonic()
                caddy_reload()
                caddy_reload()
                reload_samples.append(round(time.monotonic() - started, 2))
                time.sleep(settings.settle_s)
        with load("renewal", settings, limit=300) as renewals:
            renewal_samples = []
            for _ in range(settings.renewals):
                renewal_samples.append(one_renewal(box, renew_now))
                time.sleep(settings.settle_s)
    return {
        "method": f"Caddy's own renewal: reload with renewal_window_ratio {RENEW_NOW_RATIO} "
        f"(renew_interval {RENEW_CHECK_INTERVAL}), then the live configuration",
        "reload_only": {**load_summary(reloads), "samples": reload_samples},
        "renewal": {**load_summary(renewals), "samples": renewal_samples},
    }
