"""Refuse every mutating action except rollback while a freeze is on.

A freeze is ``orchestration.freeze: true`` in the config or a file ``.mothership/FREEZE`` (whose
text, if any, is the reason): the second lets someone stop all releases without editing config.
"""

from __future__ import annotations

from conductor.guards.base import GuardedCall
from conductor.tools.runtime import Runtime


def freeze(rt: Runtime, call: GuardedCall) -> str | None:
    if call.tool == "rollback":
        return None
    if rt.config.orchestration.freeze:
        return "deployments are frozen (orchestration.freeze is true in the config); only rollback is allowed"
    marker = rt.state_dir / "FREEZE"
    if marker.exists():
        why = marker.read_text(encoding="utf-8", errors="replace").strip()[:200]
        return f"deployments are frozen by {marker}{': ' + why if why else ''}; only rollback is allowed"
    return None
