"""What a runbook can return, and the steps every strategy ends with (bake at 100%, then promote)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor.config import ConductorConfig
from conductor.journal.state import ServiceState


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
