"""Observing a service: sample the new version and stable, judge, and journal the verdict.

One path for the brain's ``check_health``/``monitor`` and the watchdog, so they can never
disagree about what "healthy" means.
"""

from __future__ import annotations

from dataclasses import asdict

from conductor.journal.state import ServiceState
from conductor.metrics.analysis import HealthAssessment, assess
from conductor.metrics.base import MetricsSample
from conductor.tools.runtime import Runtime


def observe(rt: Runtime, svc: ServiceState, actor: str) -> HealthAssessment:
    """Judge the last interval of ``svc``'s new version and journal it (health_checked)."""
    orchestration = rt.config.orchestration
    interval = orchestration.health_check_interval
    window_start = rt.now() - interval
    rolling = rt.state().strategy == "rolling"
    candidate_slot = svc.stable_slot if rolling else svc.candidate_slot
    candidate = rt.metrics.sample(svc.name, candidate_slot, interval)
    live_baseline: MetricsSample | None = None
    if not rolling and svc.weights.get(svc.stable_slot, 0) > 0:
        live_baseline = rt.metrics.sample(svc.name, svc.stable_slot, interval)
    usable_live = live_baseline is not None and live_baseline.available and (
        live_baseline.requests >= orchestration.min_requests
    )
    baseline = live_baseline if usable_live else _stored_baseline(svc)
    assessment = assess(
        candidate, baseline, orchestration.rollback_threshold, orchestration.baseline, orchestration.min_requests
    )
    rt.record(
        "health_checked",
        svc.name,
        actor,
        assessment=assessment.to_dict(),
        window_start=window_start,
        candidate=candidate.to_dict(),
        baseline=live_baseline.to_dict() if usable_live and live_baseline else None,
    )
    return assessment


def sample_baseline(rt: Runtime, svc: ServiceState, actor: str) -> MetricsSample:
    """Sample stable alone (before any traffic moves) and keep it as the baseline."""
    interval = rt.config.orchestration.health_check_interval
    sample = rt.metrics.sample(svc.name, svc.stable_slot, interval)
    usable = sample.available and sample.requests >= rt.config.orchestration.min_requests
    rt.record("baseline_sampled", svc.name, actor, baseline=sample.to_dict(), usable=usable)
    return sample


def _stored_baseline(svc: ServiceState) -> MetricsSample | None:
    """Stable's last good sample: the baseline once stable no longer takes traffic (blue-green)."""
    if not svc.baseline:
        return None
    fields = set(MetricsSample.__dataclass_fields__)
    return MetricsSample(**{k: v for k, v in svc.baseline.items() if k in fields})


def describe(assessment: HealthAssessment) -> dict[str, object]:
    return {k: v for k, v in asdict(assessment).items() if k != "breaches"} | {
        "verdict": assessment.verdict.value,
        "breaches": [b.description for b in assessment.breaches],
    }
