"""Blue-green, per service in dependency order: deploy to the idle color, smoke-check, flip 100%
in one step, bake while the old color stays warm (instant flip back), then retire the old color."""

from __future__ import annotations

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState, Phase
from conductor.strategies.actions import Action, CallTool, Finished, bake_or_promote, observed_healthy


def next_blue_green_action(state: OrchestrationState, config: ConductorConfig, now: float) -> Action:
    for svc in state.services.values():
        if svc.terminal:
            continue
        if svc.deployed_version != svc.target_version or svc.phase in (Phase.PENDING, Phase.DEPLOYING):
            return CallTool("deploy", {"service": svc.name, "version": svc.target_version}, "deploy to idle color")
        if svc.candidate_percent < 100:
            return CallTool("shift_traffic", {"service": svc.name, "percent": 100}, "flip to the new color")
        if not observed_healthy(svc):
            return CallTool("check_health", {"service": svc.name}, "observe after the flip")
        return bake_or_promote(svc, config, now)
    return Finished("every service is complete")
