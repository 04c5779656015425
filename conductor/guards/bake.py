"""Refuse promotion before the new version carried all traffic for the whole bake time."""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.tools.runtime import Runtime


def baked(rt: Runtime, call: GuardedCall) -> str | None:
    svc = call.service
    if call.tool != "promote" or svc is None:
        return None
    if call.state.strategy == "rolling":
        if len(svc.instances_updated) < svc.replicas:
            return f"{svc.name}: {len(svc.instances_updated)}/{svc.replicas} instances updated; finish first"
    elif svc.candidate_percent < 100:
        return f"{svc.name}: the new version takes {svc.candidate_percent}% of traffic; promotion needs 100%"
    if svc.bake_started_at is None:
        return f"{svc.name}: the bake has not started"
    remaining = svc.bake_started_at + rt.config.orchestration.bake_time - rt.now()
    if remaining > 1e-6:
        return f"{svc.name}: {remaining:.0f}s of the {rt.config.orchestration.bake_time:.0f}s bake remain; call monitor"
    return None
