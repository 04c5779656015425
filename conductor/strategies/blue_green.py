"""Blue-green, per service in dependency order: deploy to the idle color, smoke-check, flip 100%
in one step, bake while the old color stays warm (instant flip back), then retire the old color."""

from __future__ import annotations

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState, Phase, ServiceState
from conductor.strategies.actions import (
    Action,
    CallTool,
    Finished,
    bake_or_promote,
    inconclusive_too_long,
    observed_healthy,
    pause_inconclusive,
)

# No explicit override here: the start command approved 100% before any evidence existed.
_WAIT = ("wait: {service} inconclusive at 100% ({reason}); keep `conductor watch` running to gather evidence "
         "and run `/orchestrate {strategy}` again, or `/orchestrate rollback`")


def _reason(svc: ServiceState) -> str:
    return svc.health.reason if svc.health is not None else "no health data"


def next_blue_green_action(state: OrchestrationState, config: ConductorConfig, now: float) -> Action:
    for svc in state.services.values():
        if svc.terminal:
            continue
        if svc.deployed_version != svc.target_version or svc.phase in (Phase.PENDING, Phase.DEPLOYING):
            return CallTool("deploy", {"service": svc.name, "version": svc.target_version}, "deploy to idle color")
        if svc.candidate_percent < 100:
            return CallTool("shift_traffic", {"service": svc.name, "percent": 100}, "flip to the new color")
        if not observed_healthy(svc):
            if inconclusive_too_long(svc, config, now):
                return pause_inconclusive(svc, 100, _WAIT.format(service=svc.name, reason=_reason(svc),
                                                                 strategy="blue-green"))
            return CallTool("check_health", {"service": svc.name}, "observe after the flip")
        return bake_or_promote(svc, config, now)
    return Finished("every service is complete")
