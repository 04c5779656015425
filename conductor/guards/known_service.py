"""Refuse a call naming a service outside the config or outside this orchestration."""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.tools.runtime import Runtime


def known_service(rt: Runtime, call: GuardedCall) -> str | None:
    name = call.service_name
    if name is None:
        return None
    configured = rt.config.orchestration.services
    if call.tool == "rollback" and name in call.state.services:
        return None  # the orchestration holds it: rolling it back is never refused, config edits or not
    if name not in configured:
        return f"unknown service {name!r}: this config has {', '.join(configured)}"
    if name not in call.state.services:
        in_play = ", ".join(call.state.services) or "none"
        return f"service {name!r} is not part of this orchestration (services in play: {in_play})"
    return None
