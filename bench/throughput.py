"""Throughput: wrk direct to the app and through the proxy over HTTPS, same client, and through
the proxy from the sandbox network.

The paths alternate within each round (direct, proxy, proxy from the sandbox network, then
again), so a burst of load from elsewhere on the machine lands on all of them alike; each
figure is the median of settings.throughput_rounds runs with its min and max, and the
proxy/direct ratio is taken per round (runs seconds apart) before its median."""

from __future__ import annotations

from bench.common import Json, Settings, live_container, site_url
from bench.load import direct_url, median_run, wrk
from bench.stats import Spread, paired_ratios


def rates(runs: list[Json]) -> list[float]:
    return [run["requests_per_second"] for run in runs]


def measure_throughput(engine: str, settings: Settings) -> Json:
    live = live_container()
    paths = {
        "direct": (direct_url(live), True),
        "proxy": (site_url(), True),
        "proxy_from_sandbox_network": (site_url(), False),
    }
    runs: dict[str, list[Json]] = {name: [] for name in paths}
    for _ in range(settings.throughput_rounds):
        for name, (url, inner) in paths.items():
            runs[name].append(wrk(url, settings, inner))
    median = {name: median_run(samples) for name, samples in runs.items()}
    ratio = Spread.of(paired_ratios(rates(runs["proxy"]), rates(runs["direct"])))
    sandbox_ratio = Spread.of(
        paired_ratios(rates(runs["proxy_from_sandbox_network"]), rates(runs["direct"]))
    )
    return {
        "engine": engine,
        "live": live,
        "urls": {name: url for name, (url, _) in paths.items()},
        "runs": runs,
        "median": median,
        "ratio_proxy_direct": ratio.median,
        "ratio_proxy_direct_spread": ratio.as_json(),
        "ratio_sandbox_network_direct": sandbox_ratio.median,
        "ratio_sandbox_network_direct_spread": sandbox_ratio.as_json(),
    }
