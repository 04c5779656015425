"""What a runbook can return, and the steps every strategy ends with (bake at 100%, then promote)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor.config import ConductorConfig
from conductor.journal.state import Phase, ServiceState
from conductor.metrics.analysis import HealthVerdict


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


def bake_or_promote(svc: ServiceState, config: ConductorConfig, now: float) -> CallTool:
    assert svc.bake_started_at is not None
    remaining = svc.bake_started_at + config.orchestration.bake_time - now
    if remaining > 1e-6:
        return CallTool("monitor", {"service": svc.name, "seconds": round(remaining, 3)}, "bake at 100%")
    return CallTool("promote", {"service": svc.name}, "bake complete")


def observed_healthy(svc: ServiceState) -> bool:
    return svc.observed_since_shift and svc.health is not None and svc.health.healthy


def inconclusive_too_long(svc: ServiceState, config: ConductorConfig, now: float) -> bool:
    """The step (or the bake) has been inconclusive for ``maxStepDuration``: it neither promotes
    nor blames the release; a person decides."""
    health = svc.health
    started = svc.last_shift_at if svc.last_shift_at is not None else now
    return (health is not None and health.verdict is HealthVerdict.INCONCLUSIVE and svc.observed_since_shift
            and now - started >= config.orchestration.max_step_duration - 1e-6)


def pause_inconclusive(svc: ServiceState, percent: int, recommendation: str) -> Action:
    """Ask a person (once), then wait for them: the journal shows the pause and its evidence."""
    if svc.phase is Phase.AWAITING_APPROVAL:
        return WaitForPerson(f"{svc.name}: inconclusive for the maximum step duration; a person decides")
    return CallTool("request_approval", {"service": svc.name, "percent": percent, "recommendation": recommendation},
                    "inconclusive for the whole maximum step duration: a person decides")

