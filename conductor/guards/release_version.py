"""Refuse deploying any version but the one the release names for that service.

The version a model passes is only ever compared, never trusted: a version string read from a
log or a label cannot widen what gets deployed.
"""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.tools.runtime import Runtime


def release_version(rt: Runtime, call: GuardedCall) -> str | None:
    svc = call.service
    if call.tool != "deploy" or svc is None:
        return None
    version = getattr(call.args, "version", None)
    if svc.target_version is None:
        return f"the release names no target version for {svc.name} (add it to \"release\" in the config)"
    if version != svc.target_version:
        return f"{svc.name}: only the release's target version {svc.target_version} may be deployed, not {version}"
    if svc.candidate_percent > 0:
        return f"{svc.name}: the new slot already takes {svc.candidate_percent}% of traffic; it cannot be redeployed"
    return None
