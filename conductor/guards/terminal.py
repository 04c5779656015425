"""Refuse acting on a service whose part of the orchestration is over (complete or rolled back)."""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.journal.state import Phase
from conductor.tools.runtime import Runtime


def not_finished(rt: Runtime, call: GuardedCall) -> str | None:
    svc = call.service
    if svc is None or call.tool == "rollback" or not svc.terminal:
        return None
    if svc.phase is Phase.ROLLED_BACK:
        return f"{svc.name} was rolled back ({svc.rollback_reason}); start a new orchestration to try again"
    return f"{svc.name} is already {svc.phase.value.lower()}; nothing more to do for it"
