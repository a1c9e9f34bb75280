"""Repeated measurements as a median and a spread: on a shared 2-core machine one run says
little, so every throughput figure is the median of several runs with their min and max."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from harness.common import Json


@dataclass(frozen=True)
class Spread:
    """The median of n runs and the lowest and highest of them."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float], digits: int = 3) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        return cls(
            round(statistics.median(values), digits),
            round(min(values), digits),
            round(max(values), digits),
            len(values),
        )

    @classmethod
    def from_json(cls, data: Json) -> Spread:
        return cls(data["median"], data["low"], data["high"], data["n"])

    def as_json(self) -> Json:
        return asdict(self)

    def relative_width(self) -> float:
        """(max - min) / median: how far apart the runs were, as a share of the median."""
        return (self.high - self.low) / self.median if self.median else 0.0

    def text(self, spec: str = ".0f", unit: str = "") -> str:
        """'2112 req/s (1980-2200, n=3)'."""
        return f"{self.median:{spec}}{unit} ({self.low:{spec}}-{self.high:{spec}}, n={self.n})"


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Run i of one path over run i of the other: runs taken back to back share the machine's
    load of the moment, so their ratio is steadier than the ratio of two medians."""
    if len(numerators) != len(denominators):
        raise ValueError("paired ratios need as many numerators as denominators")
    return [top / bottom for top, bottom in zip(numerators, denominators, strict=True) if bottom]
