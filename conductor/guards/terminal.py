"""Refuse acting on a service whose part of the orchestration is over (complete or rolled back),
or that is being rolled back: nothing may move it forward while its rollback is under way."""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.journal.state import Phase
from conductor.tools.runtime import Runtime


def not_finished(rt: Runtime, call: GuardedCall) -> str | None:
    svc = call.service
    if svc is None or call.tool == "rollback":
        return None
    if svc.rolling_back is not None and not svc.terminal:
        return f"{svc.name} is being rolled back ({svc.rolling_back}); only the rollback may act on it now"
    if not svc.terminal:
        return None
    if svc.phase is Phase.ROLLED_BACK:
        return f"{svc.name} was rolled back ({svc.rollback_reason}); start a new orchestration to try again"
    return f"{svc.name} is already {svc.phase.value.lower()}; nothing more to do for it"
