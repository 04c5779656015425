"""The MetricsProvider seam: what a slot's traffic looked like over a window.

"No data" is a result (``available=False`` or ``requests == 0``), never an exception and never
"healthy": the judge turns it into its own verdict.

A sample carries what a sequential test needs: request and error **counts** and the latency
**histogram** (bucket counts, see :mod:`conductor.metrics.evidence`) of the window. The
percentiles are for people to read; the judge never decides on a small window's percentile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

from conductor.metrics.evidence import Histogram, SlotEvidence, histogram_from_json, histogram_to_json
from conductor.platforms.base import Slot


@dataclass(frozen=True)
class MetricsSample:
    service: str
    slot: Slot
    window_seconds: float
    requests: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    active_connections: int = 0
    available: bool = True
    error: str = ""
    latency_buckets: Histogram = ()  # (upper bound ms, count) per bucket; empty when not measured

    @property
    def error_rate_percent(self) -> float | None:
        """Failed requests (5xx and transport failures) as a percentage; None without traffic."""
        return None if self.requests == 0 else 100.0 * self.errors / self.requests

    def latency_ms(self, percentile: str) -> float | None:
        return {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms}[percentile]

    def evidence(self) -> SlotEvidence:
        """This window as one look of evidence for the judge."""
        return SlotEvidence(self.requests, self.errors, self.latency_buckets, self.window_seconds, 1,
                            self.available, self.error)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["latency_buckets"] = histogram_to_json(self.latency_buckets)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricsSample:
        """The inverse of :meth:`to_dict`; unknown keys (from other versions) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["latency_buckets"] = histogram_from_json(values.get("latency_buckets"))
        return cls(**values)


@runtime_checkable  # the session recognises a platform that is its own metrics provider (the simulator)
class MetricsProvider(Protocol):
    def sample(self, service: str, slot: Slot, window_seconds: float) -> MetricsSample:
        """Traffic of ``slot`` over the last ``window_seconds``. An outage returns
        ``available=False`` with the upstream error; it does not raise."""
