"""Refuse moving a paused release forward: no deploy, no more traffic, no next batch, no promotion.

``conductor pause`` journals a person's hold (``release_paused``); it lasts until a person
resumes (``conductor resume``) or promotes. Less traffic, health checks, waits and, above all,
rollback stay allowed: a pause holds a release where it is, it never keeps anyone from backing out.
"""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.tools.runtime import Runtime

_FORWARD = ("deploy", "update_instances", "promote")


def not_paused(rt: Runtime, call: GuardedCall) -> str | None:
    hold = call.state.paused
    if hold is None:
        return None
    svc = call.service
    if call.tool == "shift_traffic":
        if svc is not None and int(getattr(call.args, "percent", 0)) <= svc.candidate_percent:
            return None  # less traffic (or the same) is never held back
    elif call.tool not in _FORWARD:
        return None
    why = f" ({hold.reason})" if hold.reason else ""
    return (f"the release is paused by {hold.actor}{why}; nothing moves it forward until a person runs "
            "`conductor resume` (or `conductor promote`). Observe with check_health; rollback stays allowed")
