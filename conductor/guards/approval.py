"""Refuse a ramp-up a person has not approved.

Approvals come from people only — the command typed (``canary 25`` approves 25%), an answer at
the REPL, an MCP client's explicit approval — and are read from the journal. No tool argument,
tool output or model text can grant one.
"""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.strategies.ramp import next_step
from conductor.tools.runtime import Runtime


def approved(rt: Runtime, call: GuardedCall) -> str | None:
    svc = call.service
    if call.tool != "shift_traffic" or svc is None:
        return None
    percent: int = getattr(call.args, "percent", 0)
    if percent <= svc.candidate_percent:
        return None
    first_step = svc.candidate_percent == 0
    if not first_step and not rt.config.orchestration.require_approval:
        return None
    if percent <= svc.approved_percent:
        return None
    return (
        f"{svc.name}: {percent}% needs a person's approval (approved so far: {svc.approved_percent}%). "
        f"Call request_approval; a person approves with `/orchestrate canary {percent}`"
    )


def within_ramp(rt: Runtime, call: GuardedCall) -> str | None:
    """No jumping past the next configured step, unless a person asked for that exact percentage."""
    svc = call.service
    if call.tool != "shift_traffic" or svc is None or call.state.strategy != "canary":
        return None
    percent: int = getattr(call.args, "percent", 0)
    if percent <= svc.candidate_percent:
        return None
    allowed = next_step(rt.config.orchestration.canary_steps, svc.candidate_percent)
    if percent <= allowed or percent in _exact_requests(rt, svc.name):
        return None
    return (
        f"{svc.name}: ramp-up from {svc.candidate_percent}% may go to at most {allowed}% (the next step of "
        f"{rt.config.orchestration.canary_steps}); only a person can ask for {percent}% directly"
    )


def _exact_requests(rt: Runtime, service: str) -> set[int]:
    events = rt.journal.events(rt.orchestration_id, kinds=("approval_granted",))
    return {int(e.data["percent"]) for e in events
            if e.data.get("exact") and e.service in (None, service) and e.actor.startswith("person:")}
