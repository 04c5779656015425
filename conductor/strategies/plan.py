"""Dispatch to the strategy's runbook, and the actions a runbook can return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState, Phase, ServiceState


@dataclass(frozen=True)
class CallTool:
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    why: str = ""


@dataclass(frozen=True)
class WaitForPerson:
    why: str


@dataclass(frozen=True)
class Finished:
    why: str


Action = CallTool | WaitForPerson | Finished


def next_action(state: OrchestrationState, config: ConductorConfig, now: float) -> Action:
    if not state.in_flight:
        return Finished(f"orchestration {state.outcome}")
    cleanup = _stop_the_rest(state)
    if cleanup is not None:
        return cleanup
    if state.strategy == "canary":
        from conductor.strategies.canary import next_canary_action

        return next_canary_action(state, config, now)
    if state.strategy == "rolling":
        from conductor.strategies.rolling import next_rolling_action

        return next_rolling_action(state, config, now)
    from conductor.strategies.blue_green import next_blue_green_action

    return next_blue_green_action(state, config, now)


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


def bake_or_promote(svc: ServiceState, config: ConductorConfig, now: float) -> CallTool:
    assert svc.bake_started_at is not None
    remaining = svc.bake_started_at + config.orchestration.bake_time - now
    if remaining > 1e-6:
        return CallTool("monitor", {"service": svc.name, "seconds": round(remaining, 3)}, "bake at 100%")
    return CallTool("promote", {"service": svc.name}, "bake complete")


def observed_healthy(svc: ServiceState) -> bool:
    return svc.observed_since_shift and svc.health is not None and svc.health.healthy
