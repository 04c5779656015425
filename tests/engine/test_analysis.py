"""Health verdicts as the engine reads them: the judge's answer on the configured limits, with
"no data" and "not enough data" never healthy, and old journals still readable.

The per-window rules these tests used to pin (stable + 2 pp, 1.5x latency + 20 ms) are gone:
each window is now one look of evidence for the sequential judge (tests/metrics/test_judge.py
holds its statistics). What stays: the absolute limits, the four states, the journal format.
"""

from __future__ import annotations

import numpy as np

from conductor.config import Orchestration
from conductor.metrics.analysis import HealthAssessment, HealthVerdict, assess, judge_settings
from conductor.metrics.base import MetricsSample
from conductor.metrics.judge import BaselineKind
from conductor.platforms.sim.noise import draw_latency, lognormal_sigma

ORCHESTRATION = Orchestration.model_validate(
    {"services": ["api"], "rollbackThreshold": {"errorRate": 5, "responseTime": 1000}}
)


def sample(requests: int = 5000, errors: int = 0, median: float = 90.0, seed: int = 1) -> MetricsSample:
    latency = draw_latency(np.random.default_rng(seed), requests, median, lognormal_sigma(90.0, 144.0))
    return MetricsSample("api", "green", 10.0, requests=requests, errors=errors, latency_buckets=latency)


def test_settings_come_from_the_config() -> None:
    custom = Orchestration.model_validate({
        "services": ["api"], "rollbackThreshold": {"errorRate": 2, "responseTime": 300, "latencyPercentile": "p99"},
        "judge": {"falseAlarmRate": 0.05, "errorRateTolerance": 0.5, "errorRateFloor": 0.1, "latencyTolerance": 0.2},
    })
    settings = judge_settings(custom)
    assert (settings.false_alarm_rate, settings.error_tolerance, settings.latency_tolerance) == (0.05, 0.5, 0.2)
    assert (settings.error_floor, settings.max_error_rate, settings.max_latency_ms) == (0.001, 0.02, 300.0)
    assert settings.percentile == 0.99


def test_the_absolute_error_limit_is_judged_on_a_bound_and_names_the_numbers() -> None:
    verdict = assess(sample(errors=400).evidence(), None, BaselineKind.NONE, ORCHESTRATION)  # 8% of 5000
    assert verdict.verdict is HealthVerdict.REGRESSION
    assert verdict.breaches[0].description == "error rate 8% of 5000 requests is above the 5% limit at 99%"
    assert verdict.breaches[0].against == "threshold" and verdict.error_rate == 8.0


def test_just_below_the_limit_is_not_a_regression() -> None:
    assert assess(sample(errors=240).evidence(), None, BaselineKind.NONE, ORCHESTRATION).verdict is not (
        HealthVerdict.REGRESSION
    )


def test_worse_than_stable_below_the_limit_is_a_regression_against_the_baseline() -> None:
    stable = sample(requests=50_000, errors=250, seed=2).evidence()  # 0.5%
    verdict = assess(sample(errors=100).evidence(), stable, BaselineKind.CONCURRENT, ORCHESTRATION)  # 2%
    assert verdict.verdict is HealthVerdict.REGRESSION
    assert verdict.breaches[0].against == "baseline" and "vs stable 0.5%" in verdict.reason


def test_latency_against_the_limit_and_against_stable() -> None:
    slow = assess(sample(median=900).evidence(), None, BaselineKind.NONE, ORCHESTRATION)
    assert slow.verdict is HealthVerdict.REGRESSION and "above the 1000ms limit" in slow.reason
    stable = sample(requests=50_000, seed=3).evidence()
    slower = assess(sample(median=135).evidence(), stable, BaselineKind.CONCURRENT, ORCHESTRATION)
    assert slower.verdict is HealthVerdict.REGRESSION and "p95 latency" in slower.reason
    assert slower.breaches[0].metric == "latency"


def test_only_non_inferior_is_healthy() -> None:
    stable = sample(requests=400_000, errors=2000, seed=4).evidence()
    good = assess(sample(requests=100_000, errors=500, seed=5).evidence(), stable, BaselineKind.CONCURRENT,
                  ORCHESTRATION)
    assert good.verdict is HealthVerdict.NON_INFERIOR and good.healthy
    assert "ruled out at 99%" in good.reason
    few = assess(sample(requests=30, seed=6).evidence(), stable, BaselineKind.CONCURRENT, ORCHESTRATION)
    assert few.verdict is HealthVerdict.INCONCLUSIVE and not few.healthy
    down = assess(MetricsSample("api", "green", 10.0, available=False, error="timeout after 5s").evidence(), stable,
                  BaselineKind.CONCURRENT, ORCHESTRATION)
    assert down.verdict is HealthVerdict.UNAVAILABLE and "timeout after 5s" in down.reason and not down.healthy


def test_no_baseline_is_judged_on_absolute_limits_only_and_says_so() -> None:
    verdict = assess(sample(requests=20_000, errors=20).evidence(), None, BaselineKind.NONE, ORCHESTRATION)
    assert verdict.healthy and "absolute limits only" in verdict.reason


def test_assessment_round_trips_through_the_journal_format_with_its_evidence() -> None:
    verdict = assess(sample(errors=400).evidence(), sample(seed=7).evidence(), BaselineKind.CONCURRENT,
                     ORCHESTRATION)
    again = HealthAssessment.from_dict(verdict.to_dict())
    assert again == verdict
    judgement = again.judgement
    assert judgement is not None and judgement.candidate.errors == 400 and judgement.tests


def test_journals_from_before_the_judge_still_fold() -> None:
    """Per-window "insufficient data" was counted as blind, so it reads as unavailable."""
    assert HealthVerdict("healthy") is HealthVerdict.NON_INFERIOR
    assert HealthVerdict("unhealthy") is HealthVerdict.REGRESSION
    assert HealthVerdict("insufficient_data") is HealthVerdict.UNAVAILABLE
    assert HealthVerdict("metrics_unavailable") is HealthVerdict.UNAVAILABLE
    old = HealthAssessment.from_dict({"verdict": "healthy", "reason": "within thresholds and baseline"})
    assert old.healthy and old.judgement is None
