"""Refuse every mutating action except rollback while a freeze is on.

A freeze is ``orchestration.freeze: true`` in the config or a file ``.mothership/FREEZE`` (whose
text, if any, is the reason): the second lets someone stop all releases without editing config.
"""

from __future__ import annotations

from pathlib import Path

from conductor.config import ConductorConfig
from conductor.guards.base import GuardedCall
from conductor.paths import freeze_markers
from conductor.tools.runtime import Runtime


def freeze(rt: Runtime, call: GuardedCall) -> str | None:
    if call.tool == "rollback":
        return None
    return freeze_reason(rt.config, rt.state_dir)


def freeze_reason(config: ConductorConfig, state_dir: Path) -> str | None:
    """Why deployments are frozen, or None. Also asked before an orchestration starts, so a frozen
    release is refused before anything (a build, a journal entry, a lock) happens."""
    if config.orchestration.freeze:
        return "deployments are frozen (orchestration.freeze is true in the config); only rollback is allowed"
    for marker in freeze_markers(state_dir):
        if marker.exists():
            why = marker.read_text(encoding="utf-8", errors="replace").strip()[:200]
            return f"deployments are frozen by {marker}{': ' + why if why else ''}; only rollback is allowed"
    return None
