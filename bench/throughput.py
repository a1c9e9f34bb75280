"""Throughput: wrk direct to the app and through the proxy over HTTPS, same client, and through
the proxy from the sandbox network."""

from __future__ import annotations

from bench.common import Json, Settings, live_container, site_url
from bench.load import direct_url, median_run, wrk


def measure_throughput(engine: str, settings: Settings) -> Json:
    live = live_container()
    paths = {
        "direct": (direct_url(live), True),
        "proxy": (site_url(), True),
        "proxy_from_sandbox_network": (site_url(), False),
    }
    runs: dict[str, list[Json]] = {name: [] for name in paths}
    for _ in range(settings.rounds):
        for name, (url, inner) in paths.items():
            runs[name].append(wrk(url, settings, inner))
    median = {name: median_run(samples) for name, samples in runs.items()}
    direct = median["direct"]["requests_per_second"]
    return {
        "engine": engine,
        "live": live,
        "urls": {name: url for name, (url, _) in paths.items()},
        "runs": runs,
        "median": median,
        "ratio_proxy_direct": round(median["proxy"]["requests_per_second"] / direct, 3),
        "ratio_sandbox_network_direct": round(
            median["proxy_from_sandbox_network"]["requests_per_second"] / direct, 3
        ),
    }
