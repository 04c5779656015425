"""Handlers that watch: get_status, check_health, monitor, request_approval."""

from __future__ import annotations

from typing import Any

from conductor.journal.events import ApprovalRequested
from conductor.journal.state import Phase, ServiceState
from conductor.metrics.analysis import HealthVerdict
from conductor.tools.health import describe, sample_baseline
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import (
    CheckHealthInput,
    GetStatusInput,
    MonitorInput,
    RequestApprovalInput,
    ToolResult,
)


def service_summary(rt: Runtime, svc: ServiceState) -> dict[str, Any]:
    bake_left = None
    if svc.bake_started_at is not None:
        bake_left = max(0.0, svc.bake_started_at + rt.config.orchestration.bake_time - rt.now())
    return {
        "service": svc.name,
        "phase": svc.phase.value,
        "stable_version": svc.stable_version,
        "target_version": svc.target_version,
        "new_version_percent": svc.candidate_percent,
        "instances_updated": len(svc.instances_updated),
        "replicas": svc.replicas,
        "approved_percent": svc.approved_percent,
        "observed_since_last_change": svc.observed_since_shift,
        "health": describe(svc.health) if svc.health else None,
        "bake_seconds_left": bake_left,
    }


def get_status(rt: Runtime, args: GetStatusInput, actor: str) -> ToolResult:
    state = rt.state()
    return ToolResult(
        "ok",
        f"orchestration #{state.id} ({state.strategy}) is {state.status}",
        {"services": [service_summary(rt, s) for s in state.services.values()], "now": rt.now()},
    )


def check_health(rt: Runtime, args: CheckHealthInput, actor: str) -> ToolResult:
    svc = rt.state().service(args.service)
    if not svc.new_version_live:
        # wait, not sleep: another service's new version may take traffic meanwhile
        rt.wait(rt.config.orchestration.health_check_interval, f"observing {svc.name}")
        baseline = sample_baseline(rt, svc, actor)
        return ToolResult(
            "no_data",
            f"{svc.name}: the new version takes no traffic, so there is nothing to judge; stable baseline sampled",
            {"baseline": baseline.to_dict()},
        )
    rt.wait(rt.config.orchestration.health_check_interval, f"observing {svc.name}")
    return _health_result(rt, rt.state().service(args.service))


def monitor(rt: Runtime, args: MonitorInput, actor: str) -> ToolResult:
    svc = rt.state().service(args.service)
    if not svc.new_version_live:
        return ToolResult("no_data", f"{svc.name}: the new version takes no traffic; nothing to monitor")
    percent = svc.candidate_percent
    label = f"baking {svc.name}" if percent >= 100 else f"observing {svc.name} at {percent}%"
    rt.wait(args.seconds, label, stop=lambda: _monitor_done(rt.state().service(args.service), rt.now(),
                                                            rt.config.orchestration.bake_time))
    return _health_result(rt, rt.state().service(args.service))


def _monitor_done(svc: ServiceState, now: float, bake_time: float) -> bool:
    """A wait ends early when the new version stops taking traffic (rolled back meanwhile) or,
    once the judge has decided either way, on a canary step below 100% or at 100% after the bake
    (a low-traffic blue-green waiting for evidence): a bake still running and a rolling batch keep
    their full time. (The tool's description, part of every recorded request, is unchanged.)"""
    if not svc.new_version_live:
        return True
    decided = (svc.observed_since_shift and svc.health is not None
               and svc.health.verdict not in (HealthVerdict.INCONCLUSIVE, HealthVerdict.UNAVAILABLE))
    baked = svc.bake_started_at is not None and now >= svc.bake_started_at + bake_time - 1e-6
    return decided and ((svc.phase is Phase.CANARY and svc.candidate_percent < 100)
                        or (svc.candidate_percent >= 100 and baked))


def request_approval(rt: Runtime, args: RequestApprovalInput, actor: str) -> ToolResult:
    svc = rt.state().service(args.service)
    # An inconclusive step always waits for a person, even with --auto: only they may ramp it up.
    inconclusive = svc.health is not None and svc.health.verdict is HealthVerdict.INCONCLUSIVE
    if not inconclusive and (svc.approved_percent >= args.percent or not rt.config.orchestration.require_approval):
        return ToolResult("ok", f"{svc.name}: {args.percent}% is already approved; go ahead")
    rt.record(ApprovalRequested(percent=args.percent, recommendation=args.recommendation), svc.name, actor)
    return ToolResult(
        "paused",
        f"{svc.name}: waiting for a person to approve {args.percent}% (`/orchestrate canary {args.percent}`); "
        "end your turn with your recommendation",
    )


def _health_result(rt: Runtime, svc: ServiceState) -> ToolResult:
    summary = service_summary(rt, svc)
    if svc.terminal:
        detail = f"{svc.name} is {svc.phase.value.lower()}: {svc.rollback_reason or ''}"
        return ToolResult("ok", detail.strip(" :"), summary)
    if svc.health is None or not svc.observed_since_shift:
        return ToolResult("no_data", f"{svc.name}: no full interval observed since the last change yet", summary)
    blind = svc.health.verdict is HealthVerdict.UNAVAILABLE
    message = f"{svc.name}: {svc.health.verdict.value}: {svc.health.reason}"
    return ToolResult("no_data" if blind else "ok", message, summary)
