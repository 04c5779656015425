"""Handlers that move a release forward: deploy, shift_traffic, update_instances, promote.

Each handler runs after the guards allowed the call. It acts on the platform, then journals the
fact before returning, so the journal never claims more than the platform did (and a crash in
between is healed by the idempotent platform on the next run).
"""

from __future__ import annotations

from conductor.errors import NotReadyError
from conductor.journal.events import (
    BakeStarted,
    Completed,
    Deployed,
    Deploying,
    Failed,
    InstanceReplaced,
    KeptWarm,
    Retired,
    Switching,
    TrafficShifted,
)
from conductor.platforms.base import Slot
from conductor.signals import clean_reason
from conductor.tools.health import sample_baseline
from conductor.tools.outcome import finish_if_done
from conductor.tools.recovery import restore_platform
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import (
    DeployInput,
    PromoteInput,
    ShiftTrafficInput,
    ToolResult,
    UpdateInstancesInput,
)

WEIGHT_TOLERANCE = 5  # percentage points a platform may round a split by (read back, journaled)


def deploy(rt: Runtime, args: DeployInput, actor: str) -> ToolResult:
    svc = rt.state().service(args.service)
    slot = svc.candidate_slot
    rt.record(Deploying(slot=slot, version=args.version), svc.name, actor)
    try:
        ready = rt.platform.deploy(svc.name, slot, args.version, svc.replicas)
    except NotReadyError as exc:
        rt.record(Failed(reason=clean_reason(str(exc))), svc.name, actor)  # a log tail must not carry markup
        finish_if_done(rt, actor)
        return ToolResult("error", f"{svc.name} {args.version} never became ready; traffic untouched: {exc}")
    for check in rt.config.spec(svc.name).smoke:
        status = rt.platform.probe(svc.name, slot, check.path)
        if status != check.expect_status:
            reason = f"smoke check GET {check.path} returned {status}, expected {check.expect_status}"
            rt.platform.retire(svc.name, slot)
            rt.record(Failed(reason=reason), svc.name, actor)
            finish_if_done(rt, actor)
            return ToolResult("error", f"{svc.name} {args.version}: {reason}; traffic untouched, slot retired")
    if rt.state().service(svc.name).terminal:  # rolled back by someone else while we waited
        rt.platform.retire(svc.name, slot)
        return ToolResult("error", f"{svc.name} was rolled back while {args.version} was starting; retired it")
    baseline = sample_baseline(rt, svc, actor)
    rt.record(Deployed(slot=slot, version=args.version, instances=len(ready.instances)), svc.name, actor)
    _notify_step(rt, f"{svc.name}: {args.version} deployed to {slot}, ready, smoke checks passed")
    return ToolResult(
        "ok",
        f"{svc.name} {args.version} is ready in slot {slot} ({len(ready.instances)} instances); no traffic yet",
        {"slot": slot, "instances": len(ready.instances), "baseline": baseline.to_dict()},
    )


def shift_traffic(rt: Runtime, args: ShiftTrafficInput, actor: str) -> ToolResult:
    svc = rt.state().service(args.service)
    if args.percent == svc.candidate_percent:  # idempotent: nothing changes, nothing is recorded
        return ToolResult("ok", f"{svc.name}: already {args.percent}% on {svc.target_version}; nothing changed",
                          {"weights": svc.weights})
    weights: dict[Slot, int] = {svc.candidate_slot: args.percent, svc.stable_slot: 100 - args.percent}
    if rt.state().strategy == "blue-green":
        rt.record(Switching(weights=weights), svc.name, actor)
    applied = rt.platform.set_weights(svc.name, weights)
    rt.record(TrafficShifted(weights=applied, requested=weights), svc.name, actor)
    got = applied.get(svc.candidate_slot, 0)
    if abs(got - args.percent) > WEIGHT_TOLERANCE:
        return ToolResult(
            "error", f"{svc.name}: asked for {weights} but the platform applied {applied}", {"applied": applied}
        )
    if got != args.percent:  # e.g. a replica-ratio split on Kubernetes: the closest it can express
        return ToolResult(
            "ok", f"{svc.name}: {got}% of traffic now on {svc.target_version} (closest the platform can "
            f"express to {args.percent}%); observe it with check_health", {"weights": applied},
        )
    _notify_step(rt, f"{svc.name}: {args.percent}% of traffic on {svc.target_version}")
    return ToolResult(
        "ok",
        f"{svc.name}: {args.percent}% of traffic now on {svc.target_version}; observe it with check_health",
        {"weights": applied},
    )


def update_instances(rt: Runtime, args: UpdateInstancesInput, actor: str) -> ToolResult:
    svc = rt.state().service(args.service)
    assert svc.target_version is not None
    if not svc.instances_updated:
        sample_baseline(rt, svc, actor)
    pending = [i for i in range(svc.replicas) if i not in svc.instances_updated][: args.count]
    for index in pending:
        try:
            rt.platform.replace_instance(svc.name, svc.stable_slot, index, svc.target_version)
        except NotReadyError as exc:
            # A failed batch reverts the instances already updated, then fails like a deploy does.
            restore_platform(rt, rt.state().service(svc.name), actor)
            reason = clean_reason(f"instance {index} never became ready: {exc}")
            rt.record(Failed(reason=reason), svc.name, actor)
            finish_if_done(rt, actor)
            return ToolResult("error", f"{svc.name}: {reason}; the updated instances were reverted")
        rt.record(InstanceReplaced(index=index, version=svc.target_version), svc.name, actor)
    svc = rt.state().service(args.service)
    done = len(svc.instances_updated)
    if done >= svc.replicas:
        rt.record(BakeStarted(), svc.name, actor)
    _notify_step(rt, f"{svc.name}: {done}/{svc.replicas} instances on {svc.target_version}")
    return ToolResult(
        "ok",
        f"{svc.name}: {done}/{svc.replicas} instances now run {svc.target_version}; observe with check_health",
        {"updated": sorted(svc.instances_updated), "replicas": svc.replicas},
    )


def promote(rt: Runtime, args: PromoteInput, actor: str) -> ToolResult:
    state = rt.state()
    svc = state.service(args.service)
    delay = rt.config.orchestration.scale_down_delay
    kept = state.strategy != "rolling" and delay > 0 and svc.stable_version is not None
    if kept:  # `conductor undo` can flip back to it without a deploy until then (tools/warm.py)
        rt.record(KeptWarm(slot=svc.stable_slot, version=svc.stable_version, until=rt.now() + delay), svc.name,
                  actor)
    elif state.strategy != "rolling":
        rt.platform.retire(svc.name, svc.stable_slot)
        rt.record(Retired(slot=svc.stable_slot, version=svc.stable_version), svc.name, actor)
    rt.record(Completed(version=svc.target_version), svc.name, actor)
    _notify_step(rt, f"{svc.name}: {svc.target_version} is stable")
    finish_if_done(rt, actor)
    old = (f"the old version stays warm for {delay:g}s (`conductor undo` flips back to it)" if kept
           else "the old version is retired")
    return ToolResult("ok", f"{svc.name}: {svc.target_version} is now stable; {old}")


def _notify_step(rt: Runtime, text: str) -> None:
    if rt.notifier is not None:
        rt.notifier.send("step", text, rt)
