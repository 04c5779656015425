"""Ending an orchestration: the DEPLOYED signal, the outcome event and the deployment record."""

from __future__ import annotations

from conductor import signals
from conductor.journal.events import OrchestrationEnded
from conductor.journal.state import Phase
from conductor.tools.deployments_log import append_record
from conductor.tools.runtime import Runtime


def finish_if_done(rt: Runtime, actor: str) -> str | None:
    """Close the orchestration once every service is complete, rolled back or failed.

    Returns the outcome when this call ended it. Complete -> ``DEPLOYED`` signal; a platform
    failure (never ready, smoke check) -> ``failed``; otherwise any rollback -> ``rolled_back``.
    """
    state = rt.state()
    if not state.in_flight:
        return None
    if any(s.rolling_back is not None and not s.terminal for s in state.services.values()):
        # A rollback journaled as started is not finished (another process is carrying it out,
        # or was killed doing it): the end comes after it, or nothing would finish it.
        return None
    phases = [s.phase for s in state.services.values()]
    unfinished_pending = all(p in (Phase.PENDING, Phase.COMPLETE, Phase.ROLLED_BACK, Phase.FAILED) for p in phases)
    stopped = any(p in (Phase.ROLLED_BACK, Phase.FAILED) for p in phases) and unfinished_pending
    if not all(s.terminal for s in state.services.values()) and not stopped:
        return None
    if any(p is Phase.FAILED for p in phases):  # the cause wins over the cleanup it triggered
        outcome = "failed"
        reason = "; ".join(f"{s.name}: {s.failure}" for s in state.services.values() if s.failure)
    elif any(p is Phase.ROLLED_BACK for p in phases):
        outcome = "rolled_back"
        reason = "; ".join(f"{s.name}: {s.rollback_reason}" for s in state.services.values() if s.rollback_reason)
    else:
        outcome = "complete"
        reason = ""
    # The DEPLOYED signal and the end are one transaction: a crash cannot leave one without the other.
    deployed = signals.deployed(list(state.services)) if outcome == "complete" else None
    if rt.record_once(OrchestrationEnded(outcome=outcome, reason=reason), None, actor, signal=deployed) is None:
        return None  # another process ended it a moment ago (and wrote its record and signal)
    append_record(rt)
    if rt.notifier is not None:
        rt.notifier.send(outcome, reason or "all services complete", rt)
    return outcome
