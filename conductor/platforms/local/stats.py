"""Per-slot traffic counters kept by the router: totals for Prometheus, time buckets for windows.

A health check asks "what did the canary look like over the last 10 s", not "since the router
started", so every quarter of a second gets its own bucket (requests, errors, a sparse latency
histogram) and a window is the sum of the buckets it covers (so it spans its length to within
0.25 s; windows longer than 15 minutes are cut to 15 minutes). Latency goes into logarithmic buckets 5% wide, so a
percentile is exact to within ~2.5% whatever the traffic, in constant memory per bucket.
Everything here runs on the router's event loop thread; readers on other threads only read ints
and replace nothing, which the GIL keeps consistent enough for monitoring.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from conductor.metrics.router import RouterWindow
from conductor.platforms.base import SLOTS, Slot

_BASE_MS = 0.05
_GROWTH = 1.05
_LOG_GROWTH = math.log(_GROWTH)
BUCKET_SECONDS = 0.25
MAX_WINDOW_SECONDS = 900
PROMETHEUS_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def bucket_of(latency_ms: float) -> int:
    if latency_ms <= _BASE_MS:
        return 0
    return 1 + int(math.log(latency_ms / _BASE_MS) / _LOG_GROWTH)


def bucket_value_ms(index: int) -> float:
    """The geometric middle of a bucket: the estimate reported for latencies that fell in it."""
    if index == 0:
        return _BASE_MS
    return float(_BASE_MS * _GROWTH ** (index - 0.5))


def bucket_upper_ms(index: int) -> float:
    return _BASE_MS * _GROWTH**index


@dataclass
class _Bucket:
    index: int  # start time / BUCKET_SECONDS
    requests: int = 0
    errors: int = 0
    latency: dict[int, int] = field(default_factory=dict)


def percentiles(histogram: dict[int, int], wanted: Iterable[float]) -> list[float | None]:
    total = sum(histogram.values())
    if total == 0:
        return [None for _ in wanted]
    ordered = sorted(histogram.items())
    results: list[float | None] = []
    for q in wanted:
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index, count in ordered:
            seen += count
            if seen >= rank:
                results.append(round(bucket_value_ms(index), 2))
                break
    return results


class SlotStats:
    """Counters of one slot of one service."""

    def __init__(self) -> None:
        self.requests_total = 0
        self.errors_total = 0
        self.latency_sum_s = 0.0
        self.in_flight = 0
        self.latency_total: dict[int, int] = {}
        self._buckets: deque[_Bucket] = deque()

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, latency_ms: float, error: bool) -> None:
        self.in_flight -= 1
        self.record(latency_ms, error)

    def record(self, latency_ms: float, error: bool) -> None:
        """Count one finished request (for a data plane that reports requests once they are done)."""
        self.requests_total += 1
        self.latency_sum_s += latency_ms / 1000.0
        now = int(time.monotonic() / BUCKET_SECONDS)
        if not self._buckets or self._buckets[-1].index != now:
            self._buckets.append(_Bucket(now))
            while self._buckets and self._buckets[0].index < now - MAX_WINDOW_SECONDS / BUCKET_SECONDS:
                self._buckets.popleft()
        current = self._buckets[-1]
        current.requests += 1
        index = bucket_of(latency_ms)
        current.latency[index] = current.latency.get(index, 0) + 1
        self.latency_total[index] = self.latency_total.get(index, 0) + 1
        if error:
            current.errors += 1
            self.errors_total += 1

    def window(self, seconds: float) -> RouterWindow:
        """Requests that finished in the last ``seconds`` (to within one bucket, the current one included)."""
        since = (time.monotonic() - seconds) / BUCKET_SECONDS
        requests = errors = 0
        histogram: dict[int, int] = {}
        for bucket in list(self._buckets):
            if bucket.index < since:
                continue
            requests += bucket.requests
            errors += bucket.errors
            for index, count in list(bucket.latency.items()):
                histogram[index] = histogram.get(index, 0) + count
        p50, p95, p99 = percentiles(histogram, (0.50, 0.95, 0.99))
        buckets = tuple((bucket_upper_ms(index), count) for index, count in sorted(histogram.items()))
        return RouterWindow(requests, errors, p50, p95, p99, self.in_flight, buckets)


    def totals(self) -> dict[str, Any]:
        """Counters since the router started, as JSON (for /metrics in the control process)."""
        return {
            "requests": self.requests_total,
            "errors": self.errors_total,
            "inFlight": self.in_flight,
            "latencySumS": self.latency_sum_s,
            "latency": sorted(self.latency_total.items()),
        }


def window_to_json(window: RouterWindow) -> dict[str, Any]:
    return {**asdict(window), "latency": [list(pair) for pair in window.latency]}


def window_from_json(data: dict[str, Any]) -> RouterWindow:
    return RouterWindow(
        requests=int(data["requests"]),
        errors=int(data["errors"]),
        p50_ms=data["p50_ms"],
        p95_ms=data["p95_ms"],
        p99_ms=data["p99_ms"],
        active_connections=int(data["active_connections"]),
        latency=tuple((float(bound), int(count)) for bound, count in data["latency"]),
    )


class ServiceStats:
    """Both slots of one service plus what the router is told (weights), for /metrics."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.slots: dict[Slot, SlotStats] = {slot: SlotStats() for slot in SLOTS}
        self.weights: dict[Slot, int] = {"blue": 100, "green": 0}

    def totals(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "slots": {slot: s.totals() for slot, s in self.slots.items()}}


@dataclass(frozen=True)
class SlotTotals:
    requests: int
    errors: int
    in_flight: int
    latency_sum_s: float
    latency: dict[int, int]  # bucket index -> count, since the data plane started


def totals_from_json(data: dict[str, Any]) -> tuple[dict[Slot, int], dict[Slot, SlotTotals]]:
    weights: dict[Slot, int] = {"blue": int(data["weights"]["blue"]), "green": int(data["weights"]["green"])}
    slots: dict[Slot, SlotTotals] = {}
    for slot in SLOTS:
        raw = data["slots"][slot]
        slots[slot] = SlotTotals(
            int(raw["requests"]),
            int(raw["errors"]),
            int(raw["inFlight"]),
            float(raw["latencySumS"]),
            {int(i): int(c) for i, c in raw["latency"]},
        )
    return weights, slots


TotalsSource = Callable[[], dict[str, tuple[dict[Slot, int], dict[Slot, SlotTotals]]]]


class RouterCollector(Collector):
    """Exposes every data plane's counters to prometheus_client, read at scrape time (no per-request cost).

    ``source`` returns, per service, the weights and per-slot totals; a data plane that cannot
    answer is left out of that scrape (an absent series, never a zero that looks healthy). Without
    a source, the :class:`ServiceStats` in ``services`` are read directly.
    """

    def __init__(self, source: TotalsSource | None = None) -> None:
        self.source = source
        self.services: dict[str, ServiceStats] = {}  # read directly when there is no ``source`` (in-process)

    def _totals(self) -> dict[str, tuple[dict[Slot, int], dict[Slot, SlotTotals]]]:
        if self.source is not None:
            return self.source()
        return {name: totals_from_json(service.totals()) for name, service in list(self.services.items())}

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        labels = ["service", "slot"]
        requests = CounterMetricFamily("conductor_router_requests", "Requests routed to a slot.", labels=labels)
        errors = CounterMetricFamily(
            "conductor_router_errors", "5xx answers and upstream failures per slot.", labels=labels
        )
        active = GaugeMetricFamily("conductor_router_active_connections", "Requests in flight.", labels=labels)
        weight = GaugeMetricFamily("conductor_router_weight_percent", "Traffic share of a slot.", labels=labels)
        latency = HistogramMetricFamily(
            "conductor_router_request_duration_seconds", "Latency seen by the router per slot.", labels=labels
        )
        for name, (weights, slots) in self._totals().items():
            for slot, stats in slots.items():
                values = [name, slot]
                requests.add_metric(values, stats.requests)
                errors.add_metric(values, stats.errors)
                active.add_metric(values, stats.in_flight)
                weight.add_metric(values, weights.get(slot, 0))
                buckets: list[tuple[str, float]] = []
                for bound in PROMETHEUS_BUCKETS_S:
                    count = sum(c for i, c in stats.latency.items() if bucket_upper_ms(i) <= bound * 1000)
                    buckets.append((repr(bound), float(count)))
                buckets.append(("+Inf", float(max(stats.requests, sum(stats.latency.values())))))
                latency.add_metric(values, buckets, stats.latency_sum_s)
        return [requests, errors, active, weight, latency]
