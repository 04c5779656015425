"""Health verdicts: thresholds, baseline comparison, and "no data" never being healthy."""

from __future__ import annotations

from conductor.config import BaselineTolerance, RollbackThreshold
from conductor.metrics.analysis import HealthVerdict, assess
from conductor.metrics.base import MetricsSample

THRESHOLD = RollbackThreshold(error_rate=5, response_time=1000)
TOLERANCE = BaselineTolerance()


def sample(requests: int = 500, errors: int = 0, p95: float | None = 150.0, **kw: object) -> MetricsSample:
    return MetricsSample("api", "green", 10.0, requests=requests, errors=errors, p95_ms=p95, **kw)  # type: ignore[arg-type]


def test_healthy_within_thresholds_and_baseline() -> None:
    verdict = assess(sample(errors=1), sample(errors=2), THRESHOLD, TOLERANCE, 20)
    assert verdict.verdict is HealthVerdict.HEALTHY and verdict.error_rate == 0.2


def test_absolute_error_rate_breach_names_the_numbers() -> None:
    verdict = assess(sample(errors=40), sample(), THRESHOLD, TOLERANCE, 20)
    assert verdict.verdict is HealthVerdict.UNHEALTHY
    assert verdict.breaches[0].description == "error rate 8.0% > 5%"


def test_exactly_at_the_threshold_is_not_a_breach() -> None:
    assert assess(sample(errors=25), None, THRESHOLD, TOLERANCE, 20).healthy


def test_worse_than_baseline_breaches_even_below_the_threshold() -> None:
    verdict = assess(sample(errors=20), sample(errors=0), THRESHOLD, TOLERANCE, 20)  # 4% vs 0% + 2pp
    assert verdict.verdict is HealthVerdict.UNHEALTHY
    assert "baseline 0.0% + 2pp" in verdict.reason


def test_latency_against_threshold_and_baseline() -> None:
    assert "p95 latency 1200ms > 1000ms" in assess(sample(p95=1200), None, THRESHOLD, TOLERANCE, 20).reason
    slow = assess(sample(p95=400), sample(p95=150), THRESHOLD, TOLERANCE, 20)
    assert slow.verdict is HealthVerdict.UNHEALTHY and "1.5x baseline 150ms" in slow.reason
    assert assess(sample(p95=160), sample(p95=150), THRESHOLD, TOLERANCE, 20).healthy


def test_no_data_is_never_healthy() -> None:
    few = assess(sample(requests=3), sample(), THRESHOLD, TOLERANCE, 20)
    assert few.verdict is HealthVerdict.INSUFFICIENT_DATA and "need at least 20" in few.reason
    none = assess(sample(requests=0, p95=None), sample(), THRESHOLD, TOLERANCE, 20)
    assert none.verdict is HealthVerdict.INSUFFICIENT_DATA
    down = assess(MetricsSample("api", "green", 10.0, available=False, error="timeout after 5s"), sample(),
                  THRESHOLD, TOLERANCE, 20)
    assert down.verdict is HealthVerdict.METRICS_UNAVAILABLE and "timeout after 5s" in down.reason
    assert not few.healthy and not none.healthy and not down.healthy


def test_unusable_baseline_falls_back_to_thresholds_and_says_so() -> None:
    verdict = assess(sample(errors=20), sample(requests=2), THRESHOLD, TOLERANCE, 20)
    assert verdict.healthy and "judged on absolute thresholds only" in verdict.reason


def test_assessment_round_trips_through_the_journal_format() -> None:
    from conductor.metrics.analysis import HealthAssessment

    verdict = assess(sample(errors=40, p95=1500), sample(), THRESHOLD, TOLERANCE, 20)
    assert HealthAssessment.from_dict(verdict.to_dict()) == verdict
