"""The ``router`` metrics provider: what the local platform's own router measured per slot.

The router counts every request it forwards (status, latency, in-flight) per slot in per-second
buckets, so a window here is exactly "the requests that finished in the last N seconds", measured
where users' traffic passes, with no scrape interval in between, and with the latency
histogram of the window (5% buckets), which the judge tests. The provider reads those windows
through a :class:`RouterCounters` source (the control API client, or the runtime itself when
in-process) and never raises: a source that cannot answer gives ``available=False`` with the
reason, which analysis treats as "metrics unavailable", never as healthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from conductor.metrics.base import MetricsSample
from conductor.metrics.evidence import Histogram, histogram_from_json
from conductor.platforms.base import Slot


@dataclass(frozen=True)
class RouterWindow:
    """One slot over one window, as the router counted it; percentiles are None without requests."""

    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    active_connections: int
    latency: Histogram = ()  # (upper bound ms, count) per 5% bucket; JSON lists when read over HTTP


class RouterCounters(Protocol):
    def window(self, service: str, slot: Slot, seconds: float) -> RouterWindow:
        """Counters of ``slot`` over the last ``seconds``; raises if the router cannot be reached."""


class RouterMetrics:
    """MetricsProvider over a router's per-slot counters.

    >>> metrics = RouterMetrics(LocalPlatform(ControlClient(Path(".mothership"))))
    >>> metrics.sample("api", "green", 10.0).error_rate_percent
    """

    def __init__(self, source: RouterCounters) -> None:
        self._source = source

    def sample(self, service: str, slot: Slot, window_seconds: float) -> MetricsSample:
        try:
            window = self._source.window(service, slot, window_seconds)
        except Exception as exc:  # an outage is a result: the caller must see "unavailable", not a crash
            return MetricsSample(
                service, slot, window_seconds, available=False, error=f"router metrics unavailable: {exc}"
            )
        return MetricsSample(
            service=service,
            slot=slot,
            window_seconds=window_seconds,
            requests=window.requests,
            errors=window.errors,
            p50_ms=window.p50_ms,
            p95_ms=window.p95_ms,
            p99_ms=window.p99_ms,
            active_connections=window.active_connections,
            latency_buckets=histogram_from_json(window.latency),
        )
