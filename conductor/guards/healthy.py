"""Refuse more traffic (or the next rolling batch, or promotion) unless the judge found the new
version non-inferior over at least a full interval since the last change.

*Regression*, *unavailable* and *inconclusive* refuse, each with its own reason. A person may
ramp up an inconclusive canary step, but only explicitly: an exact approval they typed for at
least that percentage (``/orchestrate canary 50``), which the journal records with who and when.
"""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.metrics.analysis import HealthVerdict
from conductor.tools.runtime import Runtime


def healthy_before_more_traffic(rt: Runtime, call: GuardedCall) -> str | None:
    svc = call.service
    if svc is None:
        return None
    if call.tool == "shift_traffic":
        if getattr(call.args, "percent", 0) <= svc.candidate_percent or svc.candidate_percent == 0:
            return None  # less traffic, or the first step (gated by deploy + smoke checks)
    elif call.tool == "update_instances":
        if not svc.instances_updated:
            return None
    elif call.tool != "promote":
        return None
    if not svc.observed_since_shift or svc.health is None:
        return (
            f"{svc.name}: the new version has not been observed for a full health-check interval since the "
            "last change; call check_health first"
        )
    health = svc.health
    if health.verdict is HealthVerdict.REGRESSION:
        return f"{svc.name}: the new version is worse than stable ({health.reason}); roll back"
    if health.verdict is HealthVerdict.UNAVAILABLE:
        return f"{svc.name}: cannot judge the new version ({health.reason}); no promotion while blind"
    if health.verdict is HealthVerdict.INCONCLUSIVE:
        if explicitly_approved(call):
            return None
        return (f"{svc.name}: not enough evidence yet ({health.reason}); keep observing, or a person may "
                "ramp up explicitly")
    judgement = health.judgement
    interval = rt.config.orchestration.health_check_interval
    if judgement is not None and judgement.candidate.seconds < interval - 1e-6:
        return f"{svc.name}: observed for {judgement.candidate.seconds:.0f}s; a step lasts at least one full interval"
    return None


def explicitly_approved(call: GuardedCall) -> bool:
    """A person typed this percentage (or more) exactly: the only way past an inconclusive canary
    step. Blue-green and rolling have none: their start command approves 100% up front, before
    any evidence, so it cannot stand for a decision on an inconclusive verdict."""
    if call.state.strategy != "canary":
        return False
    percent = 100 if call.tool == "promote" else int(getattr(call.args, "percent", 0))
    exact = call.service.exact_request if call.service is not None else None
    return exact is not None and exact >= percent
