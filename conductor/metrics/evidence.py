"""Evidence: what one slot did since the last traffic change, as counts a test can use.

A verdict is about everything seen since the last change, not one window, so evidence is a sum:
each health check adds its window (requests, errors, latency histogram buckets) to what the step
had gathered before. Sums of counts are exact and order-free, which is what makes a verdict
replayable from the journal: the payload of every check carries the running totals.

A latency histogram is a tuple of ``(upper bound ms, count)`` buckets, non-cumulative (each
count is the requests in (previous bound, bound]), sorted by bound; the last bound may be
``math.inf``. In JSON an infinite bound is written as ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Histogram = tuple[tuple[float, int], ...]

# Logarithmic bucket bounds 5% apart, from 0.05 ms to ~10 minutes: the local router's and the
# simulator's resolution (a percentile read from them is exact to within ~2.5%).
LOG_BUCKETS_MS: tuple[float, ...] = tuple(0.05 * 1.05**i for i in range(340))


def merge_histograms(*histograms: Histogram) -> Histogram:
    totals: dict[float, int] = {}
    for histogram in histograms:
        for bound, count in histogram:
            totals[bound] = totals.get(bound, 0) + count
    return tuple(sorted((b, c) for b, c in totals.items() if c))


def histogram_to_json(histogram: Histogram) -> list[list[float | int | None]]:
    return [[None if math.isinf(b) else b, c] for b, c in histogram]


def histogram_from_json(data: Iterable[Iterable[Any]] | None) -> Histogram:
    pairs = []
    for bound, count in data or ():
        pairs.append((math.inf if bound is None else float(bound), int(count)))
    return tuple(sorted(pairs))


def count_above(histogram: Histogram, threshold_ms: float, *, surely: bool) -> int:
    """Requests slower than ``threshold_ms``. A bucket straddling it counts only when not
    ``surely`` (an upper estimate); ``surely`` counts only buckets entirely above (a lower one)."""
    total, lower = 0, 0.0
    for bound, count in histogram:
        if (lower >= threshold_ms) if surely else (bound > threshold_ms):
            total += count
        lower = bound
    return total


@dataclass(frozen=True)
class SlotEvidence:
    """One slot's counts over ``seconds`` gathered in ``looks`` windows."""

    requests: int = 0
    errors: int = 0
    latency: Histogram = ()
    seconds: float = 0.0
    looks: int = 0
    available: bool = True
    error: str = ""

    @property
    def timed_requests(self) -> int:
        return sum(c for _, c in self.latency)

    def plus(self, window: SlotEvidence) -> SlotEvidence:
        """This evidence and one more window. An unavailable window adds nothing but makes the
        result unavailable (that check is blind); the totals carry on once the source answers."""
        if not window.available:
            return SlotEvidence(self.requests, self.errors, self.latency, self.seconds, self.looks, False, window.error)
        return SlotEvidence(
            requests=self.requests + window.requests,
            errors=self.errors + window.errors,
            latency=merge_histograms(self.latency, window.latency),
            seconds=self.seconds + window.seconds,
            looks=self.looks + window.looks,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "latency": histogram_to_json(self.latency),
            "seconds": self.seconds,
            "looks": self.looks,
            "available": self.available,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlotEvidence:
        return cls(
            requests=int(data.get("requests", 0)),
            errors=int(data.get("errors", 0)),
            latency=histogram_from_json(data.get("latency")),
            seconds=float(data.get("seconds", 0.0)),
            looks=int(data.get("looks", 0)),
            available=bool(data.get("available", True)),
            error=str(data.get("error", "")),
        )
