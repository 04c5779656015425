"""Rolling, per service in dependency order: replace ``rollingBatchSize`` instances at a time,
health-gate each batch, bake once all run the new version; a failure reverts the updated ones."""

from __future__ import annotations

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState
from conductor.strategies.actions import (
    Action,
    CallTool,
    Finished,
    bake_or_promote,
    inconclusive_too_long,
    observed_healthy,
    pause_inconclusive,
)


def next_rolling_action(state: OrchestrationState, config: ConductorConfig, now: float) -> Action:
    batch = config.orchestration.rolling_batch_size
    for svc in state.services.values():
        if svc.terminal:
            continue
        if svc.instances_updated and not observed_healthy(svc):
            if inconclusive_too_long(svc, config, now):
                reason = svc.health.reason if svc.health is not None else "no health data"
                return pause_inconclusive(svc, 100, f"wait: {svc.name} inconclusive with {len(svc.instances_updated)}"
                                          f"/{svc.replicas} instances updated ({reason}); keep `conductor watch` "
                                          "running and run `/orchestrate rolling` again, or `/orchestrate rollback`")
            return CallTool("check_health", {"service": svc.name}, "health-gate the batch")
        if len(svc.instances_updated) < svc.replicas:
            return CallTool("update_instances", {"service": svc.name, "count": batch}, "next batch")
        return bake_or_promote(svc, config, now)
    return Finished("every service is complete")
