"""Canary, all services of the release in lockstep: deploy every canary, send each the first
percentage, gather evidence against stable until the judge decides (a step ends as soon as the
canary is non-inferior, after at least one full interval), then ask a person before each ramp-up
(unless ``--auto`` or ``requireApproval: false``), bake at 100%, retire stable. A step still
inconclusive after ``maxStepDuration`` pauses for a person, who may ramp it up only explicitly.

Lockstep: the service furthest behind moves first, so ``canary 25`` means 25% for the release.
"""

from __future__ import annotations

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState, Phase, ServiceState
from conductor.metrics.analysis import HealthVerdict
from conductor.strategies.actions import (
    Action,
    CallTool,
    Finished,
    WaitForPerson,
    bake_or_promote,
    inconclusive_too_long,
    observed_healthy,
    pause_inconclusive,
)
from conductor.strategies.ramp import ramp_target


def next_canary_action(state: OrchestrationState, config: ConductorConfig, now: float) -> Action:
    live = [s for s in state.services.values() if not s.terminal]
    if not live:
        return Finished("every service is complete")
    for svc in live:  # every canary is ready before any of them takes traffic
        if svc.deployed_version != svc.target_version or svc.phase in (Phase.PENDING, Phase.DEPLOYING):
            return CallTool("deploy", {"service": svc.name, "version": svc.target_version}, "deploy the canary")
    waiting: list[ServiceState] = []
    for svc in sorted(live, key=lambda s: s.candidate_percent):  # stable sort keeps dependency order
        action = _for_service(svc, state, config, now)
        if action is None:
            waiting.append(svc)
            continue
        return action
    asks = ", ".join(f"{s.name} {s.candidate_percent}% → {s.approval_requested}%" for s in waiting)
    return WaitForPerson(f"awaiting approval: {asks}")


def _for_service(svc: ServiceState, state: OrchestrationState, config: ConductorConfig, now: float) -> Action | None:
    current = svc.candidate_percent
    target = ramp_target(state, svc, config.orchestration.canary_steps)
    if current == 0:
        return CallTool("shift_traffic", {"service": svc.name, "percent": target}, "first step")
    if not observed_healthy(svc):
        if inconclusive_too_long(svc, config, now):
            if svc.exact_request is not None and svc.exact_request >= target:
                pass  # a person ramped this inconclusive step up explicitly (the guard checks it too)
            elif svc.phase is Phase.AWAITING_APPROVAL:
                return None
            else:
                return pause_inconclusive(svc, target, _recommendation(svc, target))
        elif svc.observed_since_shift and svc.health is not None and svc.health.verdict is HealthVerdict.INCONCLUSIVE:
            # Evidence is still accumulating: wait in one call (the watchdog judges every interval and
            # the wait ends at a decision) rather than one check per turn, which would spend the brain's
            # turn budget long before maxStepDuration.
            return CallTool("monitor", {"service": svc.name, "seconds": _rest_of_step(svc, config, now)},
                            "gather evidence")
        else:
            return CallTool("check_health", {"service": svc.name}, "gather evidence")
    if current >= 100:
        return bake_or_promote(svc, config, now)
    if not config.orchestration.require_approval or svc.approved_percent >= target:
        return CallTool("shift_traffic", {"service": svc.name, "percent": target}, "ramp up")
    if svc.phase is Phase.AWAITING_APPROVAL:
        return None
    return CallTool(
        "request_approval",
        {"service": svc.name, "percent": target, "recommendation": _recommendation(svc, target)},
        "await approval",
    )


def _rest_of_step(svc: ServiceState, config: ConductorConfig, now: float) -> float:
    """Seconds until the step reaches ``maxStepDuration`` (at least one interval)."""
    started = svc.last_shift_at if svc.last_shift_at is not None else now
    remaining = started + config.orchestration.max_step_duration - now
    return round(max(remaining, float(config.orchestration.health_check_interval)), 3)


def _recommendation(svc: ServiceState, target: int) -> str:
    health = svc.health
    reason = health.reason if health else "no health data"
    if health is not None and health.verdict is HealthVerdict.INCONCLUSIVE:
        return (f"wait: canary inconclusive at {svc.candidate_percent}% ({reason}); ramping up to {target}% needs "
                f"an explicit `/orchestrate canary {target}`")
    return f"ramp up to {target}%: canary non-inferior at {svc.candidate_percent}% ({reason})"
