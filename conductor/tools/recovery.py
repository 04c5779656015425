"""The rollback handler: all traffic back to stable, the new version retired, the signal sent.

Rollback is never refused for a known service and is idempotent: a second call (or a call after
a crash halfway through) finishes whatever the first one left undone.

Its intent is journaled first (``rollback_started``, for every service a cascade will take, in
one transaction), before anything on the platform moves: a process killed halfway leaves a
journal that says which services are being undone and why, and whoever comes next (a resume,
``conductor watch``, a second ``rollback``) finishes exactly those, with the original reason,
and never re-applies the split being undone. ``rolled_back`` and its ROLLBACK signal are one
transaction; a service whose new version never took traffic is rolled back without a signal.
"""

from __future__ import annotations

from conductor import signals
from conductor.errors import LockHeldError, PlatformError
from conductor.journal.events import (
    InstanceReplaced,
    Payload,
    Retired,
    RollbackStarted,
    RolledBack,
    StableRedeployed,
    TrafficShifted,
)
from conductor.journal.state import OrchestrationState, Phase, ServiceState
from conductor.locks import action_lock
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
    followers = [other for other in rt.state().services.values()
                 if actor == "watchdog" and cascade and other.name != svc.name and not other.terminal
                 and other.phase is not Phase.PENDING]
    start_rollbacks(rt, [(svc, signals.clean_reason(args.reason))]
                    + [(other, f"rolled back with {svc.name}") for other in followers], actor)
    svc = rt.state().service(svc.name)
    reason = svc.rolling_back or signals.clean_reason(args.reason)  # the first reason journaled wins
    restore_platform(rt, svc, actor)
    signal = signals.rollback(svc.name, reason) if svc.took_traffic else None
    if rt.record_once(RolledBack(reason=reason, restored=svc.stable_version), svc.name, actor, signal=signal) is None:
        # Another process finished this very rollback while this one restored the platform too
        # (both put all traffic on stable: harmless); its record and signal stand, once.
        finish_if_done(rt, actor)
        return ToolResult("ok", f"{svc.name} is already rolled back ({reason})")
    failures: list[str] = []
    for other in followers:  # one service the platform refuses must not leave the next one on the bad release
        try:
            # Each follower under its own action lock, as any traffic-changing action is: a
            # person's rollback of it in another terminal may be halfway through. Only the one
            # watchdog that holds the release's run lock cascades, so no two processes can each
            # hold one service's action lock while waiting for the other's.
            with action_lock(rt.state_dir, other.name):
                rollback(rt, RollbackInput(service=other.name, reason=f"rolled back with {svc.name}"), actor,
                         cascade=False)
        except (PlatformError, LockHeldError) as exc:
            failures.append(f"{other.name}: {exc}")
    finish_if_done(rt, actor)
    if failures:  # reported as this call's error; the journal says which ones are still being undone
        raise PlatformError(f"{svc.name} is rolled back, but not " + "; ".join(failures))
    return ToolResult(
        "ok",
        f"{svc.name}: all traffic back on {svc.stable_version}; the new version is retired ({reason})",
        {"restored_version": svc.stable_version},
    )


def rollback_reason(text: str) -> str:
    """A reason the rollback tool always accepts: one clean line within its length limit. A
    watchdog's reason quotes the judge or a metrics error and can be long; a rollback must never
    be refused for the length of its explanation."""
    limit = next((m.max_length for m in RollbackInput.model_fields["reason"].metadata
                  if getattr(m, "max_length", None) is not None), 200)
    reason = signals.clean_reason(text)
    return reason if len(reason) <= limit else reason[: limit - 1].rstrip() + "…"


def start_rollbacks(rt: Runtime, targets: list[tuple[ServiceState, str]], actor: str) -> None:
    """Journal, in one transaction, that each service is being rolled back (and why), unless a
    rollback of it has already started or it is finished."""
    entries: list[tuple[Payload, str | None]] = [
        (RollbackStarted(reason=rollback_reason(reason)), svc.name)
        for svc, reason in targets if svc.rolling_back is None and not svc.terminal
    ]
    if entries:
        rt.journal.append_all(entries, at=rt.now(), actor=actor, orchestration=rt.orchestration_id)


def interrupted_rollback(state: OrchestrationState) -> int | None:
    """The journal position just before a rollback that some process started and nobody finished
    (None if there is none): its signals, from there on, are the resume's to hand on again.

    Unfinished: a service still being rolled back, or the end never written after the last
    service was rolled back (the killed process may have died before printing its signal)."""
    pending = [s.rollback_started_seq for s in state.services.values()
               if s.rolling_back is not None and not s.terminal and s.rollback_started_seq is not None]
    if pending:
        return min(pending) - 1
    left = all(s.terminal or s.phase is Phase.PENDING for s in state.services.values())
    if state.in_flight and left and any(s.phase is Phase.ROLLED_BACK for s in state.services.values()):
        return last_rollback(state)
    return None


def last_rollback(state: OrchestrationState) -> int | None:
    """The journal position just before the latest rollback started (None if none ever did)."""
    started = [s.rollback_started_seq for s in state.services.values() if s.rollback_started_seq is not None]
    return max(started) - 1 if started else None


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


__all__ = ["interrupted_rollback", "last_rollback", "restore_platform", "rollback", "rollback_reason",
           "start_rollbacks"]
