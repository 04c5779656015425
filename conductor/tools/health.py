"""Observing a service: gather the new version's and stable's evidence, judge, journal the verdict.

One path for the brain's ``check_health``/``monitor`` and the watchdog, so they can never
disagree about what "healthy" means.
"""

from __future__ import annotations

from dataclasses import replace

from conductor.journal.events import BaselineSampled, HealthChecked
from conductor.journal.state import ServiceState
from conductor.metrics.analysis import HealthAssessment, assess
from conductor.metrics.base import MetricsSample
from conductor.metrics.evidence import SlotEvidence
from conductor.metrics.judge import BaselineKind, Judgement
from conductor.tools.runtime import Runtime

# Windows longer than this are cut (the local router keeps 15 minutes of per-request buckets).
MAX_WINDOW_SECONDS = 900.0
# Stable alone before traffic moves: the historical baseline of blue-green and the bake.
BASELINE_WINDOW_SECONDS = 300.0


def observe(rt: Runtime, svc: ServiceState, actor: str) -> HealthAssessment:
    """Add the window since the previous check to the evidence gathered since the last traffic
    change, judge all of it, and journal the verdict with its evidence (health_checked).

    Windows are disjoint (each starts where the previous check ended), so no request is counted
    twice however often the brain, a person and the watchdog look; the running totals travel in
    the assessment's ``evidence``, so the next check (in this process or another) continues them.
    """
    orchestration = rt.config.orchestration
    now = rt.now()
    previous = svc.health.judgement if svc.health is not None and svc.observed_since_shift else None
    if previous is not None and svc.health is not None and svc.health.observed_until is not None:
        window_start = svc.health_window_start or now
        since = svc.health.observed_until
    else:  # a new step: evidence starts at the traffic change
        start = svc.last_shift_at if svc.last_shift_at is not None else now - orchestration.health_check_interval
        window_start = since = max(start, now - MAX_WINDOW_SECONDS)
    window = now - since
    if window <= 1e-6 and svc.health is not None and previous is not None:
        return svc.health  # looked twice at the same moment: nothing new to add
    window = max(window, 1e-3)
    rolling = rt.state().strategy == "rolling"
    candidate_slot = svc.stable_slot if rolling else svc.candidate_slot
    candidate = rt.metrics.sample(svc.name, candidate_slot, window)
    live_baseline: MetricsSample | None = None
    if not rolling and svc.weights.get(svc.stable_slot, 0) > 0:
        live_baseline = rt.metrics.sample(svc.name, svc.stable_slot, window)
    evidence = (previous.candidate if previous else SlotEvidence()).plus(candidate.evidence())
    if live_baseline is not None:
        kind = BaselineKind.CONCURRENT
        before = previous.stable if previous and previous.baseline is BaselineKind.CONCURRENT else None
        stable: SlotEvidence | None = (before or SlotEvidence()).plus(live_baseline.evidence())
    else:
        stable = _historical_baseline(svc, previous)
        kind = BaselineKind.HISTORICAL if stable is not None else BaselineKind.NONE
    assessment = assess(evidence, stable, kind, orchestration, candidate.active_connections)
    assessment = replace(assessment, observed_until=now)
    usable_live = live_baseline is not None and live_baseline.available and (
        live_baseline.requests >= orchestration.min_requests
    )
    rt.record(
        HealthChecked(
            assessment=assessment.to_dict(),
            window_start=window_start,
            candidate=candidate.to_dict(),
            baseline=live_baseline.to_dict() if usable_live and live_baseline else None,
        ),
        svc.name,
        actor,
    )
    return assessment


def _historical_baseline(svc: ServiceState, previous: Judgement | None) -> SlotEvidence | None:
    """Stable's traffic before it stopped taking any: the evidence of the step just before (the
    bake follows the last canary step), else the sample taken before the flip (blue-green)."""
    if previous is not None and previous.stable is not None and previous.baseline is not BaselineKind.NONE:
        return replace(previous.stable, available=True)
    last = svc.health.judgement if svc.health is not None else None
    if last is not None and last.stable is not None and last.baseline is BaselineKind.CONCURRENT:
        return replace(last.stable, available=True)
    stored = _stored_baseline(svc)
    if stored is None or not stored.available or stored.requests == 0:
        return None
    return stored.evidence()


def sample_baseline(rt: Runtime, svc: ServiceState, actor: str) -> MetricsSample:
    """Sample stable alone (before any traffic moves) and keep it as the baseline."""
    window = max(rt.config.orchestration.health_check_interval, BASELINE_WINDOW_SECONDS)
    sample = rt.metrics.sample(svc.name, svc.stable_slot, window)
    usable = sample.available and sample.requests >= rt.config.orchestration.min_requests
    rt.record(BaselineSampled(baseline=sample.to_dict(), usable=usable), svc.name, actor)
    return sample


def _stored_baseline(svc: ServiceState) -> MetricsSample | None:
    """Stable's last good sample: the baseline once stable no longer takes traffic (blue-green)."""
    if not svc.baseline:
        return None
    return MetricsSample.from_dict(svc.baseline)


def describe(assessment: HealthAssessment) -> dict[str, object]:
    """The assessment as a tool result: the verdict, the headline figures and the judge's evidence."""
    judgement = assessment.judgement
    # to_dict, not asdict: asdict would deep-copy the evidence (two histograms) only to drop it
    return {k: v for k, v in assessment.to_dict().items() if k not in ("breaches", "evidence")} | {
        "verdict": assessment.verdict.value,
        "breaches": [b.description for b in assessment.breaches],
        "evidence": judgement.summary() if judgement is not None else None,
    }
