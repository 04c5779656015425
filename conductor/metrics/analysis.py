"""Health verdicts: a new version against the absolute thresholds and against stable (the baseline).

Pure functions over samples, so every rule is testable without a platform. "Insufficient data"
and "metrics unavailable" are verdicts of their own and never count as healthy: a guard that
needs a healthy canary refuses on either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conductor.config import BaselineTolerance, RollbackThreshold
from conductor.metrics.base import MetricsSample

LATENCY_SLACK_MS = 20.0  # below this difference, latency noise is not a regression


class HealthVerdict(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    INSUFFICIENT_DATA = "insufficient_data"
    METRICS_UNAVAILABLE = "metrics_unavailable"


@dataclass(frozen=True)
class Breach:
    metric: str  # "error_rate" | "latency"
    value: float
    limit: float
    against: str  # "threshold" | "baseline"
    description: str  # one line, no markup: goes into the ROLLBACK signal


@dataclass(frozen=True)
class HealthAssessment:
    verdict: HealthVerdict
    reason: str
    error_rate: float | None = None
    latency_ms: float | None = None
    baseline_error_rate: float | None = None
    baseline_latency_ms: float | None = None
    requests: int = 0
    active_connections: int = 0
    percentile: str = "p95"
    breaches: tuple[Breach, ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        return self.verdict is HealthVerdict.HEALTHY

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "baseline_error_rate": self.baseline_error_rate,
            "baseline_latency_ms": self.baseline_latency_ms,
            "requests": self.requests,
            "active_connections": self.active_connections,
            "percentile": self.percentile,
            "breaches": [b.__dict__ for b in self.breaches],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthAssessment:
        return cls(
            verdict=HealthVerdict(data["verdict"]),
            reason=data["reason"],
            error_rate=data.get("error_rate"),
            latency_ms=data.get("latency_ms"),
            baseline_error_rate=data.get("baseline_error_rate"),
            baseline_latency_ms=data.get("baseline_latency_ms"),
            requests=data.get("requests", 0),
            active_connections=data.get("active_connections", 0),
            percentile=data.get("percentile", "p95"),
            breaches=tuple(Breach(**b) for b in data.get("breaches", [])),
        )


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"


def assess(
    candidate: MetricsSample,
    baseline: MetricsSample | None,
    threshold: RollbackThreshold,
    tolerance: BaselineTolerance,
    min_requests: int,
) -> HealthAssessment:
    """Judge ``candidate`` (the new version's slot) against thresholds and ``baseline`` (stable)."""
    percentile = threshold.latency_percentile
    if not candidate.available:
        return HealthAssessment(
            HealthVerdict.METRICS_UNAVAILABLE,
            f"metrics unavailable: {candidate.error or 'no answer from the metrics source'}",
            percentile=percentile,
        )
    rate = candidate.error_rate_percent
    latency = candidate.latency_ms(percentile)
    base_ok = baseline is not None and baseline.available and baseline.requests >= min_requests
    base_rate = baseline.error_rate_percent if base_ok and baseline else None
    base_latency = baseline.latency_ms(percentile) if base_ok and baseline else None
    common: dict[str, Any] = {
        "error_rate": rate,
        "latency_ms": latency,
        "baseline_error_rate": base_rate,
        "baseline_latency_ms": base_latency,
        "requests": candidate.requests,
        "active_connections": candidate.active_connections,
        "percentile": percentile,
    }
    if rate is None or candidate.requests < min_requests:
        return HealthAssessment(
            HealthVerdict.INSUFFICIENT_DATA,
            f"insufficient data: {candidate.requests} requests in {_fmt(candidate.window_seconds)}s, "
            f"need at least {min_requests}",
            **common,
        )
    breaches: list[Breach] = []
    if rate > threshold.error_rate:
        breaches.append(
            Breach("error_rate", rate, threshold.error_rate, "threshold",
                   f"error rate {rate:.1f}% > {_fmt(threshold.error_rate)}%")
        )
    elif base_rate is not None and rate > base_rate + tolerance.error_rate_delta:
        limit = base_rate + tolerance.error_rate_delta
        breaches.append(
            Breach("error_rate", rate, limit, "baseline",
                   f"error rate {rate:.1f}% > baseline {base_rate:.1f}% + {_fmt(tolerance.error_rate_delta)}pp")
        )
    if latency is not None and latency > threshold.response_time:
        breaches.append(
            Breach("latency", latency, threshold.response_time, "threshold",
                   f"{percentile} latency {latency:.0f}ms > {_fmt(threshold.response_time)}ms")
        )
    elif latency is not None and base_latency is not None:
        limit = base_latency * tolerance.response_time_ratio + LATENCY_SLACK_MS
        if latency > limit:
            breaches.append(
                Breach("latency", latency, limit, "baseline",
                       f"{percentile} latency {latency:.0f}ms > {_fmt(tolerance.response_time_ratio)}x "
                       f"baseline {base_latency:.0f}ms")
            )
    if breaches:
        return HealthAssessment(
            HealthVerdict.UNHEALTHY, "; ".join(b.description for b in breaches), breaches=tuple(breaches), **common
        )
    if latency is None:  # responseTime cannot be judged: blind on latency is not healthy
        return HealthAssessment(
            HealthVerdict.INSUFFICIENT_DATA,
            f"insufficient data: no {percentile} latency in {candidate.requests} requests, so responseTime "
            "cannot be judged",
            **common,
        )
    note = "" if base_ok else " (no baseline traffic: judged on absolute thresholds only)"
    return HealthAssessment(HealthVerdict.HEALTHY, f"within thresholds and baseline{note}", **common)
