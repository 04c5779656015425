"""Refuse more traffic (or the next rolling batch) unless the new version was observed healthy
for a full interval since the last change, with enough samples.

"Insufficient data" and "metrics unavailable" refuse too: no promotion while blind.
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
    if health.verdict is HealthVerdict.UNHEALTHY:
        return f"{svc.name}: the new version is unhealthy ({health.reason}); roll back or keep observing"
    if health.verdict is not HealthVerdict.HEALTHY:
        return f"{svc.name}: cannot judge the new version ({health.reason}); no promotion while blind"
    return None
