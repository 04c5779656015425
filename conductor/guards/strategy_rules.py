"""Refuse tools that do not belong to the orchestration's strategy, or steps out of order."""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.journal.state import Phase
from conductor.tools.runtime import Runtime


def strategy_rules(rt: Runtime, call: GuardedCall) -> str | None:
    svc = call.service
    strategy = call.state.strategy
    if svc is None:
        return None
    if call.tool == "shift_traffic":
        if strategy == "rolling":
            return "a rolling update moves instances, not traffic: use update_instances"
        percent = getattr(call.args, "percent", 0)
        if strategy == "blue-green" and percent != 100:
            return "blue-green flips all traffic in one step: shift_traffic with percent 100"
        if svc.deployed_version != svc.target_version or svc.phase in (Phase.PENDING, Phase.DEPLOYING):
            return f"{svc.name}: deploy {svc.target_version} (and pass its smoke checks) before shifting traffic"
    if call.tool == "update_instances" and strategy != "rolling":
        return f"update_instances belongs to a rolling update; this orchestration is {strategy}"
    if call.tool == "deploy" and strategy == "rolling":
        return "a rolling update replaces instances in place: use update_instances"
    return None
