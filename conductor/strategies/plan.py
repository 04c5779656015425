"""Dispatch to the strategy's runbook; a release that stopped rolls back the rest first."""

from __future__ import annotations

from collections.abc import Callable

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState, Phase
from conductor.strategies.actions import Action, CallTool, Finished, WaitForPerson
from conductor.strategies.blue_green import next_blue_green_action
from conductor.strategies.canary import next_canary_action
from conductor.strategies.rolling import next_rolling_action

Runbook = Callable[[OrchestrationState, ConductorConfig, float], Action]

RUNBOOKS: dict[str, Runbook] = {
    "blue-green": next_blue_green_action,
    "canary": next_canary_action,
    "rolling": next_rolling_action,
}


def next_action(state: OrchestrationState, config: ConductorConfig, now: float) -> Action:
    if not state.in_flight:
        return Finished(f"orchestration {state.outcome}")
    cleanup = _stop_the_rest(state)
    if cleanup is not None:
        return cleanup
    if state.paused is not None:  # a person's hold: the watchdog still judges, nothing moves forward
        return WaitForPerson(f"paused by {state.paused.actor}"
                             + (f" ({state.paused.reason})" if state.paused.reason else "")
                             + ": `conductor resume` (or `conductor promote`) moves it on")
    return RUNBOOKS[state.strategy](state, config, now)


def _stop_the_rest(state: OrchestrationState) -> Action | None:
    """Once one service failed or was rolled back, the release stops: roll back the others in flight."""
    stopped = [s for s in state.services.values() if s.phase in (Phase.FAILED, Phase.ROLLED_BACK)]
    if not stopped:
        return None
    for svc in state.services.values():
        if not svc.terminal and svc.phase is not Phase.PENDING:
            return CallTool("rollback", {"service": svc.name, "reason": f"release stopped: {stopped[0].name} "
                                          f"{stopped[0].phase.value.lower()}"}, "release stopped")
    return Finished("release stopped")


__all__ = ["Action", "CallTool", "Finished", "WaitForPerson", "next_action"]
