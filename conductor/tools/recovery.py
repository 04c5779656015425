"""The rollback handler: all traffic back to stable, the new version retired, the signal sent.

Rollback is never refused for a known service and is idempotent: a second call (or a call after
a crash halfway through) finishes whatever the first one left undone.
"""

from __future__ import annotations

from conductor import signals
from conductor.journal.events import InstanceReplaced, Retired, RolledBack, StableRedeployed, TrafficShifted
from conductor.journal.state import Phase, ServiceState
from conductor.platforms.base import Slot
from conductor.tools.outcome import finish_if_done
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import RollbackInput, ToolResult


def rollback(rt: Runtime, args: RollbackInput, actor: str, cascade: bool = True) -> ToolResult:
    """Roll one service back; when the watchdog does it, the rest of the release follows (a release
    is a unit: nothing of it is left taking traffic without the orchestration that owned it)."""
    svc = rt.state().service(args.service)
    if svc.phase is Phase.COMPLETE:
        finish_if_done(rt, actor)  # a crash may have come between the last record and the end
        return ToolResult("ok", f"{svc.name}: {svc.stable_version} completed its bake and is stable; nothing in flight")
    if svc.phase is Phase.ROLLED_BACK:
        restore_platform(rt, svc, actor)  # finish a rollback a crash may have interrupted
        finish_if_done(rt, actor)
        return ToolResult("ok", f"{svc.name} is already rolled back ({svc.rollback_reason})")
    restore_platform(rt, svc, actor)
    reason = signals.clean_reason(args.reason)
    rt.record(RolledBack(reason=reason, restored=svc.stable_version), svc.name, actor,
              signal=signals.rollback(svc.name, reason))
    if actor == "watchdog" and cascade:
        for other in list(rt.state().services.values()):
            if other.name != svc.name and not other.terminal and other.phase is not Phase.PENDING:
                rollback(rt, RollbackInput(service=other.name, reason=f"rolled back with {svc.name}"), actor,
                         cascade=False)
    finish_if_done(rt, actor)
    return ToolResult(
        "ok",
        f"{svc.name}: all traffic back on {svc.stable_version}; the new version is retired ({reason})",
        {"restored_version": svc.stable_version},
    )


def restore_platform(rt: Runtime, svc: ServiceState, actor: str) -> None:
    """Weights first (users are safe the moment this returns), then clean up the new version."""
    weights: dict[Slot, int] = {svc.stable_slot: 100, svc.candidate_slot: 0}
    snapshot = rt.platform.snapshot(svc.name)
    rolling = rt.state().strategy == "rolling"
    if not rolling and svc.stable_version and not snapshot.slots[svc.stable_slot].instances:
        # A promote cut short after retiring the old color: bring it back before the flip.
        rt.platform.deploy(svc.name, svc.stable_slot, svc.stable_version, svc.replicas)
        rt.record(StableRedeployed(slot=svc.stable_slot, version=svc.stable_version), svc.name, actor)
    if dict(snapshot.weights) != weights:
        applied = rt.platform.set_weights(svc.name, weights)
        rt.record(TrafficShifted(weights=applied, requested=weights), svc.name, actor)
    if rolling:
        stable = svc.stable_version
        for instance in snapshot.slots[svc.stable_slot].instances:
            if stable is not None and instance.version != stable:
                rt.platform.replace_instance(svc.name, svc.stable_slot, instance.index, stable)
                rt.record(InstanceReplaced(index=instance.index, version=stable), svc.name, actor)
    elif snapshot.slots[svc.candidate_slot].instances or snapshot.slots[svc.candidate_slot].version:
        rt.platform.retire(svc.name, svc.candidate_slot)
        rt.record(Retired(slot=svc.candidate_slot, version=svc.target_version), svc.name, actor)


__all__ = ["restore_platform", "rollback"]
