"""Health verdicts as the rest of Conductor reads them: the judge's answer plus headline figures.

The decision itself is :func:`conductor.metrics.judge.judge` (a sequential test over everything
seen since the last traffic change); this module maps configuration to the judge's settings and
wraps its :class:`~conductor.metrics.judge.Judgement` in a :class:`HealthAssessment`, the
object the journal, the guards, the watchdog, the report and the tools' results share. The
judgement travels inside as ``evidence`` (its own ``to_dict()``), so a verdict can be explained
and replayed from the journal.

Only ``non_inferior`` is healthy. ``inconclusive`` (not enough evidence yet: wait) and
``unavailable`` (no data: fails closed after ``noDataLimit``) never are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conductor.config import Orchestration
from conductor.metrics.evidence import SlotEvidence
from conductor.metrics.judge import BaselineKind, Judgement, JudgeSettings, Verdict, judge, quantile_ms

_PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


class HealthVerdict(StrEnum):
    REGRESSION = Verdict.REGRESSION.value
    NON_INFERIOR = Verdict.NON_INFERIOR.value
    INCONCLUSIVE = Verdict.INCONCLUSIVE.value
    UNAVAILABLE = Verdict.UNAVAILABLE.value
    # Names from before the sequential judge, kept so older callers read the same states.
    HEALTHY = NON_INFERIOR
    UNHEALTHY = REGRESSION
    INSUFFICIENT_DATA = INCONCLUSIVE
    METRICS_UNAVAILABLE = UNAVAILABLE

    @classmethod
    def _missing_(cls, value: object) -> HealthVerdict | None:
        """Journals written before the judge: their per-window "insufficient data" was counted
        as blind, so it folds as ``unavailable`` and an old journal replays as it did."""
        legacy = {"healthy": cls.NON_INFERIOR, "unhealthy": cls.REGRESSION,
                  "insufficient_data": cls.UNAVAILABLE, "metrics_unavailable": cls.UNAVAILABLE}
        return legacy.get(str(value))


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
    error_rate: float | None = None  # percent, over the evidence since the last change
    latency_ms: float | None = None
    baseline_error_rate: float | None = None
    baseline_latency_ms: float | None = None
    requests: int = 0
    active_connections: int = 0
    percentile: str = "p95"
    breaches: tuple[Breach, ...] = field(default_factory=tuple)
    evidence: dict[str, Any] | None = None  # Judgement.to_dict(): counts, histograms, statistics
    observed_until: float | None = None  # the end of the evidence (its start is the check's window_start)

    @property
    def healthy(self) -> bool:
        return self.verdict is HealthVerdict.NON_INFERIOR

    @property
    def judgement(self) -> Judgement | None:
        return Judgement.from_dict(self.evidence) if self.evidence else None

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
            "evidence": self.evidence,
            "observed_until": self.observed_until,
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
            evidence=data.get("evidence"),
            observed_until=data.get("observed_until"),
        )


def judge_settings(orchestration: Orchestration) -> JudgeSettings:
    """The judge's settings from ``orchestration`` (rollbackThreshold and the judge's own keys)."""
    threshold = orchestration.rollback_threshold
    judge_config = orchestration.judge
    return JudgeSettings(
        false_alarm_rate=judge_config.false_alarm_rate,
        error_tolerance=judge_config.error_rate_tolerance,
        error_floor=judge_config.error_rate_floor / 100.0,
        latency_tolerance=judge_config.latency_tolerance,
        percentile=_PERCENTILES[threshold.latency_percentile],
        max_error_rate=threshold.error_rate / 100.0,
        max_latency_ms=threshold.response_time,
    )


def _rate(evidence: SlotEvidence | None) -> float | None:
    if evidence is None or not evidence.available or evidence.requests == 0:
        return None
    return 100.0 * evidence.errors / evidence.requests


def assessment_of(judgement: Judgement, percentile: str, active_connections: int = 0) -> HealthAssessment:
    """Wrap a judgement with the headline figures people read (rates in %, the percentile)."""
    q = _PERCENTILES[percentile]
    candidate, stable = judgement.candidate, judgement.stable
    breaches = []
    for test in judgement.regressions:
        metric = "error_rate" if test.name.startswith("error_rate") else "latency"
        value = test.figures.get("error_rate" if metric == "error_rate" else "latency_ms") or 0.0
        limit = test.p0_regression * (100.0 if metric == "error_rate" else 1.0)
        if metric == "latency":
            limit = test.figures.get("limit_ms") or test.figures.get("slow_regression_ms") or 0.0
        else:
            value *= 100.0
        against = "threshold" if test.name.endswith("_limit") else "baseline"
        breaches.append(Breach(metric, value, limit, against, test.description))
    return HealthAssessment(
        verdict=HealthVerdict(judgement.verdict.value),
        reason=judgement.reason,
        error_rate=_rate(candidate),
        latency_ms=quantile_ms(candidate.latency, q),
        baseline_error_rate=_rate(stable),
        baseline_latency_ms=quantile_ms(stable.latency, q) if stable is not None else None,
        requests=candidate.requests,
        active_connections=active_connections,
        percentile=percentile,
        breaches=tuple(breaches),
        evidence=judgement.to_dict(),
    )


def assess(
    candidate: SlotEvidence,
    baseline: SlotEvidence | None,
    baseline_kind: BaselineKind,
    orchestration: Orchestration,
    active_connections: int = 0,
) -> HealthAssessment:
    """Judge ``candidate`` (the new version, since the last change) against stable."""
    judgement = judge(candidate, baseline, baseline_kind, judge_settings(orchestration))
    return assessment_of(judgement, orchestration.rollback_threshold.latency_percentile, active_connections)
