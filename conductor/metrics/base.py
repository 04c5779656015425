"""The MetricsProvider seam: what a slot's traffic looked like over a window.

"No data" is a result (``available=False`` or ``requests == 0``), never an exception and never
"healthy": analysis turns it into its own verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

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

    @property
    def error_rate_percent(self) -> float | None:
        """Failed requests (5xx and transport failures) as a percentage; None without traffic."""
        return None if self.requests == 0 else 100.0 * self.errors / self.requests

    def latency_ms(self, percentile: str) -> float | None:
        return {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms}[percentile]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetricsProvider(Protocol):
    def sample(self, service: str, slot: Slot, window_seconds: float) -> MetricsSample:
        """Traffic of ``slot`` over the last ``window_seconds``. An outage returns
        ``available=False`` with the upstream error; it does not raise."""
